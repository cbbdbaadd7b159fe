import { clientErrorOf } from "../infra/client-error.js";
import type { HandshakeStep } from "../infra/handshake.js";
import { createLogThrottle } from "../infra/log-throttle.js";
import type { Logger } from "../infra/logger.js";
import type { RedisClient } from "../infra/redis.js";
import type { AppServer } from "../infra/socket-server.js";
import { AppError, userRoom } from "../protocol/index.js";
import type { RevocationStore } from "./revocation-store.js";
import { parseRevocationMessage } from "./revocation-store-redis.js";
import type { TokenVerifier, VerifiedToken } from "./verifier.js";

/**
 * How long a cached answer is trusted while the revocation channel is up: the channel
 * keeps the cache current, this bounds the staleness should one announcement be lost.
 */
export const REVOCATION_CACHE_MS = 10_000;
/** Users whose answer is cached; the least recently read beyond this are forgotten. */
const CACHE_ENTRIES = 50_000;

export interface Revocations {
  /** Tokens of the user issued before `beforeMs` are refused from now on, on every instance. */
  revoke(userId: string, beforeMs: number): Promise<number>;
  /** Whether a token of the user issued at `issuedAtSec` (epoch seconds) is revoked. */
  isRevoked(userId: string, issuedAtSec: number): Promise<boolean>;
  /** Called on each instance for every revocation it hears of (its own included). */
  onRevoked(listener: (userId: string, beforeMs: number) => void): void;
  start(): Promise<void>;
  stop(): void;
}

export interface RevocationsDeps {
  store: RevocationStore;
  /** The subscriber connection and the channel the Redis store announces on; none: memory only. */
  channel?: { sub: RedisClient; name: string };
  /** JWT_MAX_LIFETIME_SEC plus the clock tolerance: how long a revocation must be kept. */
  keepMs: number;
  logger: Logger;
  now?: () => number;
}

/**
 * Revocation with a per-instance cache: the first check of a user reads the store, later
 * ones answer from memory while the revocation channel is subscribed (and for at most
 * REVOCATION_CACHE_MS per answer), so a handshake costs no Redis round trip in the common
 * case. While the channel is down every check reads the store: a fresh instance, or one
 * that lost its subscription, never answers from what it may have missed. Only when Redis
 * cannot be read at all does a check fall back to the last known answer (none: not revoked).
 */
export function createRevocations(deps: RevocationsDeps): Revocations {
  const log = deps.logger.child({ module: "revocation" });
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { beforeMs: number; at: number }>();
  const listeners: ((userId: string, beforeMs: number) => void)[] = [];
  let listening = false;
  const throttle = createLogThrottle({ max: 10, intervalMs: 60_000 });

  const remember = (userId: string, beforeMs: number) => {
    cache.delete(userId);
    cache.set(userId, { beforeMs, at: now() });
    if (cache.size > CACHE_ENTRIES) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
  };

  const heard = (userId: string, beforeMs: number) => {
    const known = cache.get(userId)?.beforeMs ?? 0;
    remember(userId, Math.max(known, beforeMs));
    for (const listener of listeners) listener(userId, beforeMs);
  };

  const channel = deps.channel;
  const onMessage = (name: string, raw: string) => {
    if (name !== channel?.name) return;
    const parsed = parseRevocationMessage(raw);
    if (parsed) heard(parsed.userId, parsed.beforeMs);
  };
  const onClose = () => {
    if (listening) log.warn("revocation channel lost: checks read Redis until it is back");
    // The answers stay as the last known ones, for a Redis that cannot be read (below).
    listening = false;
  };
  const subscribe = async () => {
    if (!channel) return;
    try {
      await channel.sub.subscribe(channel.name);
      // Whatever was announced while unsubscribed is unknown here: start from the store.
      cache.clear();
      listening = true;
    } catch (err) {
      log.warn({ err: (err as Error).message }, "revocation channel not subscribed yet");
    }
  };
  const onReady = () => {
    if (!listening) void subscribe();
  };

  const currentBefore = async (userId: string): Promise<number> => {
    const cached = cache.get(userId);
    if (listening && cached && now() - cached.at < REVOCATION_CACHE_MS) return cached.beforeMs;
    let stored: number | undefined;
    try {
      stored = await deps.store.get(userId);
    } catch (err) {
      if (!clientErrorOf(err)) throw err;
      // Redis cannot be read: the last known answer, else none. Connections do not depend
      // on Redis (docs/reliability.md), and a revocation cannot be written meanwhile either.
      throttle((suppressed) =>
        log.warn(
          { userId, suppressed },
          "revocation not checked against Redis (unreachable): last known answer",
        ),
      );
      return cached?.beforeMs ?? 0;
    }
    // An announcement may have arrived while the read was in flight: a time only moves forwards.
    const inForce = Math.max(stored ?? 0, cache.get(userId)?.beforeMs ?? 0);
    if (listening) remember(userId, inForce);
    return inForce;
  };

  return {
    async revoke(userId, beforeMs) {
      try {
        const inForce = await deps.store.revoke(userId, beforeMs, now() + deps.keepMs);
        // Without a channel (memory), this instance is the only one to tell.
        if (!channel) heard(userId, inForce);
        else remember(userId, inForce);
        return inForce;
      } catch (err) {
        throw clientErrorOf(err) ?? err;
      }
    },
    async isRevoked(userId, issuedAtSec) {
      return issuedAtSec * 1000 < (await currentBefore(userId));
    },
    onRevoked(listener) {
      listeners.push(listener);
    },
    async start() {
      if (!channel) return;
      channel.sub.on("message", onMessage);
      channel.sub.on("close", onClose);
      channel.sub.on("ready", onReady);
      // With Redis unreachable a SUBSCRIBE waits in the offline queue: the service starts
      // anyway (docs/reliability.md), checks read the store, and "ready" subscribes later.
      if (channel.sub.status === "ready") await subscribe();
    },
    stop() {
      if (!channel) return;
      channel.sub.off("message", onMessage);
      channel.sub.off("close", onClose);
      channel.sub.off("ready", onReady);
      listening = false;
      cache.clear();
    },
  };
}

/**
 * The verifier every token goes through: the key's verdict, then the user's revocation
 * (TOKEN_INVALID "the token was revoked"), for connection and room tokens alike.
 */
export function withRevocation(
  verifier: TokenVerifier,
  revocations: Pick<Revocations, "isRevoked">,
): TokenVerifier {
  const check = async <T extends VerifiedToken>(token: T): Promise<T> => {
    if (await revocations.isRevoked(token.user.id, token.issuedAt)) {
      throw new AppError("TOKEN_INVALID", "the token was revoked");
    }
    return token;
  };
  return {
    verify: async (token) => check(await verifier.verify(token)),
    verifyRoomToken: async (token) => check(await verifier.verifyRoomToken(token)),
  };
}

/**
 * The handshake's revocation check. In the admit phase, not with the token's verification:
 * a user's first check on this instance reads Redis, and that read leaves in the same write
 * as the admission's commands (one round trip per handshake, see handshake.ts).
 */
export function createRevocationCheck(revocations: Pick<Revocations, "isRevoked">): HandshakeStep {
  return {
    phase: "admit",
    async run(socket) {
      const { user, tokenIssuedAt } = socket.data;
      if (await revocations.isRevoked(user.id, tokenIssuedAt)) {
        throw new AppError("TOKEN_INVALID", "the token was revoked");
      }
    },
  };
}

/**
 * This instance's sockets of the user whose token was issued before the revocation are
 * disconnected when it is heard of: the internal API's broadcast cuts those connected
 * then, this cuts one admitted here while the announcement was on its way.
 */
export function cutRevokedSockets(io: AppServer, logger: Logger) {
  const log = logger.child({ module: "revocation" });
  return (userId: string, beforeMs: number) => {
    const namespace = io.of("/");
    for (const socketId of namespace.adapter.rooms.get(userRoom(userId)) ?? []) {
      const socket = namespace.sockets.get(socketId);
      if (!socket || socket.data.tokenIssuedAt * 1000 >= beforeMs) continue;
      log.info({ socketId: socket.id, userId }, "token revoked, disconnecting");
      socket.disconnect(true);
    }
  };
}
