import type { ExtendedError } from "socket.io";
import type { AppSocket } from "../infra/event-router.js";
import type { Logger } from "../infra/logger.js";
import type { RateLimiter } from "../infra/rate-limit.js";
import type { AppServer } from "../infra/socket-server.js";
import { AppError, userRoom } from "../protocol/index.js";

const PRIVATE_ADDRESS = /^(::ffff:)?(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)|^::1$|^f[cd]/i;

/**
 * The client's address: the socket's peer, or, when that peer is a proxy on a private
 * network (the load balancer), the last address it appended to X-Forwarded-For.
 */
export function clientAddress(handshake: AppSocket["handshake"]): string {
  const peer = handshake.address;
  const forwarded = handshake.headers["x-forwarded-for"];
  if (typeof forwarded === "string" && PRIVATE_ADDRESS.test(peer)) {
    const hops = forwarded.split(",").map((h) => h.trim());
    const last = hops[hops.length - 1];
    if (last) return last;
  }
  return peer;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function refused(status: number, code: string, extra: Record<string, unknown> = {}): ExtendedError {
  const err = new Error("connection refused") as ExtendedError;
  err.data = { status, code, ...extra };
  return err;
}

/**
 * The first handshake middleware: every handshake of an address counts, before its token
 * is verified, so token guessing (and signature checks, costly with RS256 or a JWKS) is
 * limited too. Beyond the limit: RATE_LIMITED with a retry hint.
 */
export function createAddressLimit(deps: { perAddress: RateLimiter; logger: Logger }) {
  const log = deps.logger.child({ module: "connection-limits" });
  return async (socket: AppSocket, next: (err?: ExtendedError) => void): Promise<void> => {
    const address = clientAddress(socket.handshake);
    try {
      await deps.perAddress.consume(address);
      next();
    } catch (err) {
      if (err instanceof AppError && err.code === "RATE_LIMITED") {
        log.warn({ address }, "connection rate limit");
        next(refused(429, "RATE_LIMITED", { retryAfterMs: err.retryAfterMs }));
        return;
      }
      // The limiter falls back to in-memory counters while Redis is down: this is a bug.
      log.error({ err, address }, "connection rate limit failed");
      next(refused(500, "INTERNAL"));
    }
  };
}

/**
 * Runs after authentication: a user may hold at most `maxPerUser` sockets across all
 * instances (counted through the adapter, so a dead instance's sockets never count).
 */
export function createConnectionLimits(deps: {
  io: AppServer;
  maxPerUser: number;
  logger: Logger;
  countTimeoutMs?: number;
}) {
  const log = deps.logger.child({ module: "connection-limits" });
  return async (socket: AppSocket, next: (err?: ExtendedError) => void): Promise<void> => {
    try {
      // The adapter queues its first Redis command without limit while Redis is down;
      // its own request timeout starts only after that. Bound the whole count here.
      const existing = await withTimeout(
        deps.io.in(userRoom(socket.data.user.id)).fetchSockets(),
        deps.countTimeoutMs ?? 1000,
      );
      if (existing.length >= deps.maxPerUser) {
        log.warn({ userId: socket.data.user.id, existing: existing.length }, "too many connections for user");
        next(refused(429, "TOO_MANY_CONNECTIONS"));
        return;
      }
    } catch (err) {
      // The count is a guard, not a dependency: an adapter timeout must not lock users out.
      log.warn({ err: (err as Error).message, userId: socket.data.user.id }, "connection count unavailable");
    }
    next();
  };
}
