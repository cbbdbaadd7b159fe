import type { ExtendedError } from "socket.io";
import type { AppSocket } from "../infra/event-router.js";
import type { Feature } from "../infra/feature.js";
import type { Logger } from "../infra/logger.js";
import type { RateLimiter } from "../infra/rate-limit.js";
import { AppError, httpStatusOf, userRoom } from "../protocol/index.js";

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

/** The part of a feature that takes part in admitting a connection (see Feature.admit). */
export type Admitter = Pick<Feature, "name" | "admit" | "abandon">;

/**
 * The last handshake step, after authentication: every admitting feature records the
 * connection or refuses it (presence refuses a user past MAX_CONNECTIONS_PER_USER), then
 * the socket joins `user:<id>`. When the handshake does not become a connection after all,
 * the features give back what they recorded.
 */
export function createAdmission(deps: { features: readonly Admitter[]; logger: Logger }) {
  const log = deps.logger.child({ module: "connection-limits" });
  const admitters = deps.features.filter((f) => f.admit);
  const abandon = (socket: AppSocket, admitted: readonly Admitter[]) => {
    for (const feature of admitted) {
      try {
        feature.abandon?.(socket);
      } catch (err) {
        log.error({ err, feature: feature.name, socketId: socket.id }, "abandon hook failed");
      }
    }
  };
  return async (socket: AppSocket, next: (err?: ExtendedError) => void): Promise<void> => {
    const admitted: Admitter[] = [];
    try {
      for (const feature of admitters) {
        await feature.admit?.(socket);
        admitted.push(feature);
      }
      // Awaited: once connected, a broadcast to the user's room reaches this socket from
      // every instance (with sharded pub/sub the room's subscription is confirmed first).
      await socket.join(userRoom(socket.data.user.id));
    } catch (err) {
      abandon(socket, admitted);
      if (err instanceof AppError) {
        next(
          refused(
            httpStatusOf[err.code],
            err.code,
            err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs },
          ),
        );
        return;
      }
      log.error({ err, socketId: socket.id, userId: socket.data.user.id }, "admission failed");
      next(refused(500, "INTERNAL"));
      return;
    }
    next();
    // Socket.IO connects the socket on the next tick, unless the client left meanwhile
    // (it checks the transport); by the time this runs, it has done one or the other.
    if (admitted.length > 0) {
      setImmediate(() => {
        if (!socket.connected) abandon(socket, admitted);
      });
    }
  };
}
