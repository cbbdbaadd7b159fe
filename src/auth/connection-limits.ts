import type { AppSocket } from "../infra/event-router.js";
import type { HandshakeStep } from "../infra/handshake.js";
import type { Logger } from "../infra/logger.js";
import type { RateLimiter } from "../infra/rate-limit.js";
import { AppError } from "../protocol/index.js";

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

/**
 * The first handshake step: every handshake of an address counts, before its token is
 * verified, so token guessing (and signature checks, costly with RS256 or a JWKS) is
 * limited too. Beyond the limit: RATE_LIMITED with a retry hint.
 */
export function createAddressLimit(deps: { perAddress: RateLimiter; logger: Logger }): HandshakeStep {
  const log = deps.logger.child({ module: "connection-limits" });
  return {
    phase: "address",
    async run(socket) {
      const address = clientAddress(socket.handshake);
      try {
        await deps.perAddress.consume(address);
      } catch (err) {
        if (err instanceof AppError && err.code === "RATE_LIMITED") {
          log.warn({ address }, "connection rate limit");
          throw err;
        }
        // The limiter falls back to in-memory counters while Redis is down: this is a bug.
        log.error({ err, address }, "connection rate limit failed");
        throw new AppError("INTERNAL");
      }
    },
  };
}
