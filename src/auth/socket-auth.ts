import type { ExtendedError } from "socket.io";
import { bearerToken } from "../infra/bearer.js";
import type { AppSocket, EventRouter } from "../infra/event-router.js";
import type { Logger } from "../infra/logger.js";
import { AppError, authRefreshPayload } from "../protocol/index.js";
import type { TokenVerifier } from "./verifier.js";

/** The handshake token: `auth.token` first, then an `Authorization: Bearer` header. */
export function tokenFromHandshake(handshake: AppSocket["handshake"]): string | undefined {
  const fromAuth = (handshake.auth as Record<string, unknown> | undefined)?.token;
  if (typeof fromAuth === "string" && fromAuth.length > 0) return fromAuth;
  return bearerToken(handshake.headers.authorization);
}

function unauthorized(
  code: "TOKEN_MISSING" | "TOKEN_EXPIRED" | "TOKEN_INVALID" | "UNAVAILABLE",
): ExtendedError {
  const err = new Error("unauthorized") as ExtendedError;
  err.data = { status: code === "UNAVAILABLE" ? 503 : 401, code };
  return err;
}

/** Socket.IO middleware: a connection exists only with a valid token. */
export function createAuthMiddleware(deps: { verifier: TokenVerifier; logger: Logger }) {
  const log = deps.logger.child({ module: "auth" });
  return async (socket: AppSocket, next: (err?: ExtendedError) => void): Promise<void> => {
    const token = tokenFromHandshake(socket.handshake);
    if (!token) {
      log.info(
        { socketId: socket.id, address: socket.handshake.address, code: "TOKEN_MISSING" },
        "handshake refused",
      );
      next(unauthorized("TOKEN_MISSING"));
      return;
    }
    try {
      const { user, exp } = await deps.verifier.verify(token);
      socket.data.user = user;
      socket.data.tokenExp = exp;
      next();
    } catch (err) {
      const code =
        err instanceof AppError && err.code === "TOKEN_EXPIRED" ? "TOKEN_EXPIRED" : "TOKEN_INVALID";
      log.info(
        { socketId: socket.id, address: socket.handshake.address, code, reason: (err as Error).message },
        "handshake refused",
      );
      next(unauthorized(code));
    }
  };
}

// setTimeout overflows past 2^31-1 ms (about 24.8 days) and fires at once.
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Keeps a connection from outliving its token: at `exp` the socket gets
 * `auth:expired` and is disconnected; `auth:refresh` moves the deadline.
 * One timer per socket, kept in a WeakMap so nothing leaks with the socket.
 */
export function createTokenLifecycle(deps: { verifier: TokenVerifier; logger: Logger; now?: () => number }) {
  const log = deps.logger.child({ module: "auth" });
  const now = deps.now ?? Date.now;
  const timers = new WeakMap<AppSocket, NodeJS.Timeout>();

  const schedule = (socket: AppSocket) => {
    clearTimeout(timers.get(socket));
    const exp = socket.data.tokenExp;
    const delay = Math.max(0, exp * 1000 - now());
    const fire = () => {
      const remaining = exp * 1000 - now();
      if (remaining > 0) {
        timers.set(socket, setTimeout(fire, Math.min(remaining, MAX_TIMER_MS)).unref());
        return;
      }
      log.info({ socketId: socket.id, userId: socket.data.user.id }, "token expired, disconnecting");
      socket.emit("auth:expired", { exp });
      socket.disconnect(true);
    };
    timers.set(socket, setTimeout(fire, Math.min(delay, MAX_TIMER_MS)).unref());
  };

  return {
    onConnection(socket: AppSocket) {
      schedule(socket);
      socket.once("disconnect", () => {
        clearTimeout(timers.get(socket));
        timers.delete(socket);
      });
    },
    register(router: EventRouter) {
      router.on("auth:refresh", {
        schema: authRefreshPayload,
        async handle({ token }, { socket, user }) {
          const verified = await deps.verifier.verify(token);
          if (verified.user.id !== user.id) {
            throw new AppError("FORBIDDEN", "the new token belongs to another user");
          }
          // Roles and rooms may change with a new token; the id never does.
          socket.data.user = verified.user;
          socket.data.tokenExp = verified.exp;
          schedule(socket);
          return { exp: verified.exp };
        },
      });
    },
  };
}
