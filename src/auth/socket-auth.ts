import { bearerToken } from "../infra/bearer.js";
import type { AppSocket, EventRouter } from "../infra/event-router.js";
import type { HandshakeStep } from "../infra/handshake.js";
import type { Logger } from "../infra/logger.js";
import { AppError } from "../protocol/index.js";
import { type TokenVerifier, tokenDeadlineMs } from "./verifier.js";

/** The handshake token: `auth.token` first, then an `Authorization: Bearer` header. */
export function tokenFromHandshake(handshake: AppSocket["handshake"]): string | undefined {
  const fromAuth = (handshake.auth as Record<string, unknown> | undefined)?.token;
  if (typeof fromAuth === "string" && fromAuth.length > 0) return fromAuth;
  return bearerToken(handshake.headers.authorization);
}

/**
 * The handshake step after which a connection has a user: a valid token, from `auth.token`
 * or an `Authorization: Bearer` header. Refusals are TOKEN_MISSING, TOKEN_EXPIRED or
 * TOKEN_INVALID (401), logged without the token.
 */
export function createAuthentication(deps: {
  verifier: TokenVerifier;
  logger: Logger;
  /** Counts the refused handshake against its address; rejects with RATE_LIMITED once over. */
  countRefused?: (socket: AppSocket) => Promise<void>;
}): HandshakeStep {
  const log = deps.logger.child({ module: "auth" });
  const refuse = (
    socket: AppSocket,
    code: "TOKEN_MISSING" | "TOKEN_EXPIRED" | "TOKEN_INVALID",
    reason?: string,
  ) => {
    log.info({ socketId: socket.id, address: socket.handshake.address, code, reason }, "handshake refused");
    return new AppError(code);
  };
  /** The socket's user, or the refusal (not thrown yet: the handshake still counts). */
  const verify = async (socket: AppSocket): Promise<AppError | undefined> => {
    const token = tokenFromHandshake(socket.handshake);
    if (!token) return refuse(socket, "TOKEN_MISSING");
    try {
      const { user, exp, issuedAt } = await deps.verifier.verify(token);
      socket.data.user = user;
      socket.data.tokenExp = exp;
      socket.data.tokenIssuedAt = issuedAt;
      return undefined;
    } catch (err) {
      // A verifier that could not reach what it checks with: neither accepted nor refused.
      if (err instanceof AppError && err.code === "UNAVAILABLE") throw err;
      const expired = err instanceof AppError && err.code === "TOKEN_EXPIRED";
      return refuse(socket, expired ? "TOKEN_EXPIRED" : "TOKEN_INVALID", (err as Error).message);
    }
  };
  return {
    phase: "authenticate",
    async run(socket) {
      const refusal = await verify(socket);
      if (!refusal) return;
      // Over the address's limit, the answer is RATE_LIMITED whatever the token was.
      await deps.countRefused?.(socket);
      throw refusal;
    },
  };
}

/** How often the due expiry buckets are emptied: a socket outlives its token by at most this. */
const EXPIRY_TICK_MS = 250;

export interface TokenLifecycleDeps {
  verifier: TokenVerifier;
  logger: Logger;
  /** JWT_CLOCK_TOLERANCE_SEC: a token is valid until `exp` plus this (tokenDeadlineMs). */
  clockToleranceSec: number;
  /**
   * After `auth:refresh` replaced the socket's user: the features drop what the new claims
   * no longer grant and resolve with the rooms the socket left.
   */
  onUserChanged?: (socket: AppSocket) => Promise<string[]>;
  now?: () => number;
}

/**
 * Keeps a connection from outliving its token: at its deadline (`exp` plus the clock
 * tolerance, the rule the handshake applies too; within EXPIRY_TICK_MS) the socket gets
 * `auth:expired` and is disconnected; `auth:refresh` moves the deadline. Sockets are kept
 * in buckets by the second of their deadline and one timer per instance empties the due
 * ones: a timer per socket cost each idle connection about 250 bytes (docs/performance.md).
 */
export function createTokenLifecycle(deps: TokenLifecycleDeps) {
  const log = deps.logger.child({ module: "auth" });
  const now = deps.now ?? Date.now;
  const deadlineOf = (socket: AppSocket) => tokenDeadlineMs(socket.data.tokenExp, deps.clockToleranceSec);
  // Derived from socket.data.tokenExp, so it must not change while the socket is scheduled.
  const bucketOf = (socket: AppSocket) => Math.floor(deadlineOf(socket) / 1000);
  // Second of the deadline -> sockets whose token is valid until then.
  const buckets = new Map<number, Set<AppSocket>>();
  // Every bucket at or below this second has been emptied.
  let checkedUpTo = 0;
  let timer: NodeJS.Timeout | undefined;

  const unschedule = (socket: AppSocket) => {
    const second = bucketOf(socket);
    const bucket = buckets.get(second);
    if (!bucket) return;
    bucket.delete(socket);
    if (bucket.size === 0) buckets.delete(second);
  };

  const expire = (socket: AppSocket) => {
    if (!socket.connected) return;
    log.info({ socketId: socket.id, userId: socket.data.user.id }, "token expired, disconnecting");
    socket.emit("auth:expired", { exp: socket.data.tokenExp });
    socket.disconnect(true);
  };

  const tick = () => {
    const t = now();
    const due = Math.floor(t / 1000);
    for (let second = checkedUpTo + 1; second <= due; second++) {
      const bucket = buckets.get(second);
      if (!bucket) continue;
      for (const socket of bucket) {
        // Only the current second holds deadlines still ahead (a fractional exp or tolerance).
        if (deadlineOf(socket) > t) continue;
        bucket.delete(socket);
        expire(socket);
      }
      if (bucket.size === 0) buckets.delete(second);
    }
    checkedUpTo = Math.max(checkedUpTo, due - 1);
  };

  const schedule = (socket: AppSocket) => {
    if (!timer) {
      checkedUpTo = Math.floor(now() / 1000) - 1;
      timer = setInterval(tick, EXPIRY_TICK_MS).unref();
    }
    const second = bucketOf(socket);
    // Its second was already swept: the deadline has passed (verified at the edge of its validity).
    if (second <= checkedUpTo) {
      setImmediate(expire, socket);
      return;
    }
    const bucket = buckets.get(second);
    if (bucket) bucket.add(socket);
    else buckets.set(second, new Set([socket]));
  };

  return {
    onConnection: schedule,
    onDisconnect: unschedule,
    stop() {
      clearInterval(timer);
      timer = undefined;
      buckets.clear();
    },
    register(router: EventRouter) {
      router.on("auth:refresh", {
        async handle({ token }, { socket, user }) {
          const verified = await deps.verifier.verify(token);
          if (verified.user.id !== user.id) {
            throw new AppError("FORBIDDEN", "the new token belongs to another user");
          }
          // Gone while the token was verified: scheduling it would keep it in a bucket.
          if (!socket.connected) throw new AppError("NOT_FOUND", "the connection is closed");
          // Roles and rooms may change with a new token; the id never does.
          unschedule(socket);
          socket.data.user = verified.user;
          socket.data.tokenExp = verified.exp;
          socket.data.tokenIssuedAt = verified.issuedAt;
          schedule(socket);
          const leftRooms = (await deps.onUserChanged?.(socket)) ?? [];
          return { exp: verified.exp, leftRooms };
        },
      });
    },
  };
}
