import type { Config } from "./config.js";
import { createLogThrottle } from "./log-throttle.js";
import type { Logger } from "./logger.js";

const LOCALHOST_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/;

/** Whether a request may come from a browser page of this Origin; `host` is the request's Host header. */
export type OriginCheck = (origin: string | undefined, host: string | undefined) => boolean;

/**
 * Whether the Origin names the host the request was sent to (host and port, whatever the
 * scheme: TLS may end at a proxy). A cross-site page cannot send such a request: its
 * browser sets both headers. A DNS-rebinding page can, but under its own name, so it holds
 * none of the user's credentials (the service authenticates by token, not by cookie).
 */
export function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    const url = new URL(origin);
    // The same parser on both sides: case and the scheme's default port are normalised away.
    return url.host === new URL(`${url.protocol}//${host}`).host;
  } catch {
    return false;
  }
}

/**
 * Whether a browser Origin may talk to this service. A request without an Origin
 * header is not from a browser page (curl, backends, native apps) and is allowed:
 * the token, not the Origin, authenticates it. A page served by this host itself is
 * allowed. The check exists to stop cross-site WebSocket hijacking, where a foreign
 * page rides the user's browser.
 */
export function createOriginPolicy(cors: Config["cors"]): OriginCheck {
  const allowed = new Set(cors.origins);
  return (origin, host) => {
    if (origin === undefined) return true;
    if (cors.allowAll || allowed.has(origin)) return true;
    if (cors.allowAnyLocalhost && LOCALHOST_ORIGIN.test(origin)) return true;
    return isSameOrigin(origin, host);
  };
}

/** Where a refusal is reported: the request's Origin and Host, and what refused it. */
export type OriginRefusal = (origin: string, host: string | undefined, what: "http" | "socket.io") => void;

/** Refused origins, at warn, at most 10 lines a minute (anyone can send any Origin). */
export function logRefusedOrigin(logger: Logger): OriginRefusal {
  const log = logger.child({ module: "origin" });
  const throttle = createLogThrottle({ max: 10, intervalMs: 60_000 });
  return (origin, host, what) =>
    throttle((suppressed) =>
      log.warn(
        {
          origin: origin.slice(0, 200),
          host: host?.slice(0, 200),
          refusedBy: what,
          ...(suppressed ? { suppressed } : {}),
        },
        "browser origin not allowed: add it to CORS_ORIGINS to accept pages from it",
      ),
    );
}
