import type { AppSocket } from "../infra/event-router.js";
import type { HandshakeStep } from "../infra/handshake.js";
import type { Logger } from "../infra/logger.js";
import { type RateLimiter, rateLimited } from "../infra/rate-limit.js";
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

/** Addresses remembered as over their limit, at most: the oldest are forgotten first. */
const MAX_BLOCKED_ADDRESSES = 10_000;

export interface AddressLimit {
  /** `address` phase: refuses, without Redis, an address this instance saw go over its limit. */
  screen: HandshakeStep;
  /** `admit` phase: counts the handshake, in the same round trip as the other features' admission. */
  count: HandshakeStep;
  /** Counts a handshake authentication refused: RATE_LIMITED replaces its refusal once over. */
  countRefused(socket: AppSocket): Promise<void>;
}

/**
 * RATE_CONNECT_PER_IP_PER_MIN: every handshake of an address counts, refused ones too. A
 * valid token's is counted with its admission (one Redis round trip for the handshake, see
 * handshake.ts), one refused by authentication as it is refused; once an address is over the
 * limit this instance refuses it before its token is verified until the window ends, so
 * token guessing (and signature checks, costly with RS256 or a JWKS) stays limited.
 */
export function createAddressLimit(deps: {
  perAddress: RateLimiter;
  logger: Logger;
  now?: () => number;
}): AddressLimit {
  const log = deps.logger.child({ module: "connection-limits" });
  const now = deps.now ?? Date.now;
  /** Address → until when it is refused locally (ms); insertion order is expiry order, nearly. */
  const blocked = new Map<string, number>();

  const remember = (address: string, retryAfterMs: number) => {
    blocked.delete(address);
    blocked.set(address, now() + retryAfterMs);
    if (blocked.size > MAX_BLOCKED_ADDRESSES) blocked.delete(blocked.keys().next().value as string);
  };

  const consume = async (socket: AppSocket) => {
    const address = clientAddress(socket.handshake);
    try {
      await deps.perAddress.consume(address);
    } catch (err) {
      if (err instanceof AppError && err.code === "RATE_LIMITED") {
        log.warn({ address }, "connection rate limit");
        remember(address, err.retryAfterMs ?? 1000);
        throw err;
      }
      // The limiter falls back to in-memory counters while Redis is down: this is a bug.
      log.error({ err, address }, "connection rate limit failed");
      throw new AppError("INTERNAL");
    }
  };

  return {
    screen: {
      phase: "address",
      async run(socket) {
        const address = clientAddress(socket.handshake);
        const until = blocked.get(address);
        if (until === undefined) return;
        if (until <= now()) {
          blocked.delete(address);
          return;
        }
        throw rateLimited(deps.perAddress.name, until - now());
      },
    },
    count: { phase: "admit", run: consume },
    countRefused: consume,
  };
}
