import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { instrument } from "@socket.io/admin-ui";
import bcrypt from "bcryptjs";
import express, { Router } from "express";
import type { ExtendedError, Socket } from "socket.io";
import { clientAddress } from "../auth/connection-limits.js";
import type { Feature } from "../infra/feature.js";
import type { Logger } from "../infra/logger.js";
import type { RateLimiter, RateLimiterFactory } from "../infra/rate-limit.js";
import type { AppServer } from "../infra/socket-server.js";
import { AppError } from "../protocol/index.js";
import type { AdminSessionStore } from "./session-store.js";

/** The Socket.IO namespace the admin UI connects to, and the path its page is served at. */
export const ADMIN_NAMESPACE = "/admin";
/** The admin UI's own build, shipped inside the package. */
const UI_DIR = join(
  dirname(createRequire(import.meta.url).resolve("@socket.io/admin-ui/package.json")),
  "ui/dist",
);
/** Handshakes per client address per minute: a person logging in, not a password guesser. */
const LOGIN_RATE = { points: 10, durationSec: 60 };
/** A session outlives the password check for a working day. */
const SESSION_TTL_SEC = 8 * 3600;
/** bcryptjs runs in JavaScript: at cost 10 a login check took 110 ms of CPU here (measured). */
const BCRYPT_COST = 10;

/**
 * The Socket.IO Admin UI (`@socket.io/admin-ui`) as an operator's live view of every instance:
 * its `/admin` namespace behind a username and password of its own, the UI's page at `/admin/`.
 * Read-only: the UI's actions (emit to any room, make sockets join rooms, disconnect) would
 * bypass the chat policy and the membership bookkeeping; `/internal/users/:id/disconnect`
 * does the one that is needed.
 */
export interface AdminOptions {
  /** ADMIN_UI_USERNAME and ADMIN_UI_PASSWORD: the view's own credentials. */
  username: string;
  password: string;
  /** ADMIN_UI_MODE: `development` also sends every socket, room and event to the UI. */
  mode: "production" | "development";
}

export interface AdminDeps {
  /** The server the UI instruments (its `/admin` namespace, every namespace's sockets). */
  io: AppServer;
  /** Where sessions are kept: Redis when there is one, so that any instance knows them. */
  sessions(options: { ttlSec: number; onError: (err: Error, what: string) => void }): AdminSessionStore;
  /** Names this instance in the UI. */
  instanceId: string;
  rateLimiter: RateLimiterFactory;
  logger: Logger;
}

export function createAdminFeature(admin: AdminOptions, deps: AdminDeps): Feature {
  const log = deps.logger.child({ module: "admin" });
  const loginLimit = deps.rateLimiter("admin-login", LOGIN_RATE);
  let stopStats: (() => void) | undefined;
  return {
    name: "admin",
    httpRouter: Router().use(ADMIN_NAMESPACE, express.static(UI_DIR)),
    async start() {
      // Registered before instrument()'s own middleware, so it runs first.
      deps.io.of(ADMIN_NAMESPACE).use(limitLogins(loginLimit));
      const password = await bcrypt.hash(admin.password, BCRYPT_COST);
      const store = deps.sessions({
        ttlSec: SESSION_TTL_SEC,
        onError: (err, what) => log.warn({ err: err.message, what }, "admin session store failed"),
      });
      stopStats = stoppableIntervals(() =>
        instrument(deps.io, {
          namespaceName: ADMIN_NAMESPACE,
          auth: { type: "basic", username: admin.username, password },
          mode: admin.mode,
          readonly: true,
          serverId: deps.instanceId,
          store,
        }),
      );
      log.info({ mode: admin.mode, namespace: ADMIN_NAMESPACE }, "admin UI instrumentation on");
    },
    async stop() {
      stopStats?.();
    },
  };
}

function limitLogins(limiter: RateLimiter) {
  return async (socket: Socket, next: (err?: ExtendedError) => void): Promise<void> => {
    try {
      await limiter.consume(clientAddress(socket.handshake));
      next();
    } catch (err) {
      const error = new Error(err instanceof AppError ? err.code : "UNAVAILABLE") as ExtendedError;
      error.data = err instanceof AppError ? err.toBody() : { code: "UNAVAILABLE" };
      next(error);
    }
  };
}

/**
 * instrument() starts a stats timer (every 2 s) that nothing stops (socket.io-admin-ui #63):
 * after a shutdown it would publish to a closed Redis connection. Catch the intervals it
 * starts, synchronously, so the app can clear them when it stops.
 */
function stoppableIntervals(run: () => void): () => void {
  const started: NodeJS.Timeout[] = [];
  const original = globalThis.setInterval;
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
    const timer = original(...args);
    started.push(timer);
    return timer;
  }) as unknown as typeof setInterval;
  try {
    run();
  } finally {
    globalThis.setInterval = original;
  }
  return () => {
    for (const timer of started) clearInterval(timer);
  };
}
