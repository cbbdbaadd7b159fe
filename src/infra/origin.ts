import type { Config } from "./config.js";

const LOCALHOST_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/;

/**
 * Whether a browser Origin may talk to this service. A request without an Origin
 * header is not from a browser page (curl, backends, native apps) and is allowed:
 * the token, not the Origin, authenticates it. The check exists to stop
 * cross-site WebSocket hijacking, where a foreign page rides the user's browser.
 */
export function createOriginPolicy(cors: Config["cors"]): (origin: string | undefined) => boolean {
  const allowed = new Set(cors.origins);
  return (origin) => {
    if (origin === undefined) return true;
    if (cors.allowAll) return true;
    if (allowed.has(origin)) return true;
    return cors.allowAnyLocalhost && LOCALHOST_ORIGIN.test(origin);
  };
}
