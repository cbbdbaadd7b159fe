import type { AppSocket } from "../infra/event-router.js";
import type { Feature } from "../infra/feature.js";
import type { Logger } from "../infra/logger.js";
import type { RateLimiterFactory } from "../infra/rate-limit.js";
import type { AppServer } from "../infra/socket-server.js";
import type { InstanceRegistry } from "../instances/index.js";
import { AppError, presenceRoom } from "../protocol/index.js";
import { registerPresenceHandlers } from "./handlers.js";
import { createPresenceService, type PresenceBroadcaster, type PresenceService } from "./service.js";
import type { PresenceStore, PresenceStoreOptions } from "./store.js";

/** How long an offline user's lastSeen and text are kept. */
export const PRESENCE_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * How long a handshake waits for its connection to be counted. A hung Redis holds a command
 * for its 2 s timeout; the count is a guard, not a dependency, so the handshake goes on.
 */
const ADMIT_TIMEOUT_MS = 1000;

export interface PresenceOptions {
  /** PRESENCE_GRACE_MS: a user goes offline only after the last device has been gone this long. */
  graceMs: number;
  /** RATE_PRESENCE_*: per user. */
  rate: { setPerSec: number; subscribePerSec: number };
  /** MAX_CONNECTIONS_PER_USER: sockets one user may hold across all instances. */
  maxConnectionsPerUser: number;
}

export interface PresenceDeps {
  /** The presence store of the backend the app runs on (Redis or memory). */
  store(options: PresenceStoreOptions): PresenceStore;
  /** Tells a user's subscribers, on every instance, that their presence changed. */
  broadcaster: PresenceBroadcaster;
  /** Connections are held under this instance's registration; dead instances' are reaped through it. */
  registry: InstanceRegistry;
  rateLimiter: RateLimiterFactory;
  logger: Logger;
}

/** Presence changes go to the user's `presence:<id>` room, which the adapter carries to every instance. */
export function createPresenceBroadcaster(io: Pick<AppServer, "to">): PresenceBroadcaster {
  return { changed: (state) => io.to(presenceRoom(state.userId)).emit("presence:changed", state) };
}

export function createPresenceFeature(
  options: PresenceOptions,
  deps: PresenceDeps,
): Feature & { service: Pick<PresenceService, "query"> } {
  const logger = deps.logger.child({ module: "presence" });
  const store = deps.store({ graceMs: options.graceMs, retentionMs: PRESENCE_RETENTION_MS });
  const service = createPresenceService({
    store,
    registry: deps.registry,
    logger,
    broadcaster: deps.broadcaster,
  });
  const { setPerSec, subscribePerSec } = options.rate;
  const limits = {
    set: deps.rateLimiter("presence:set", { points: setPerSec, durationSec: 1 }),
    subscribe: deps.rateLimiter("presence:subscribe", { points: subscribePerSec, durationSec: 1 }),
    // Queries read as much as subscriptions do: same allowance, own budget.
    query: deps.rateLimiter("presence:query", { points: subscribePerSec, durationSec: 1 }),
  };

  const maxConnections = options.maxConnectionsPerUser;

  const admit = async (socket: AppSocket) => {
    const userId = socket.data.user.id;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(resolve, ADMIT_TIMEOUT_MS, "timeout");
    });
    const admission = await Promise.race([service.admit(socket.id, userId, maxConnections), timeout]);
    clearTimeout(timer);
    if (admission === "full") {
      logger.warn({ userId, max: maxConnections }, "too many connections for user");
      throw new AppError("TOO_MANY_CONNECTIONS");
    }
    // Redis unreachable or slow: admitted uncounted (recorded once it can be), not locked out.
    if (admission !== "admitted") logger.warn({ userId, admission }, "connection count unavailable");
  };

  return {
    name: "presence",
    service,
    register: (router) => registerPresenceHandlers(router, service, limits),
    // MAX_CONNECTIONS_PER_USER: the user's connections in the store, every instance's, are
    // the count; the handshake records its own atomically with the check.
    handshake: [{ phase: "admit", run: admit, abandon: (socket) => service.disconnect(socket.id) }],
    onConnection(socket) {
      service.connect(socket.id, socket.data.user.id);
    },
    onDisconnect(socket) {
      service.disconnect(socket.id);
    },
    stop: () => service.stop(),
  };
}
