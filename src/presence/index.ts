import type { FeatureDeps } from "../app.js";
import type { Feature } from "../infra/feature.js";
import type { InstanceRegistry } from "../instances/index.js";
import { AppError, presenceRoom } from "../protocol/index.js";
import { registerPresenceHandlers } from "./handlers.js";
import { createMemoryPresenceStore } from "./presence-store-memory.js";
import { createRedisPresenceStore } from "./presence-store-redis.js";
import { createPresenceService } from "./service.js";

/** How long an offline user's lastSeen and text are kept. */
export const PRESENCE_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * How long a handshake waits for its connection to be counted. A hung Redis holds a command
 * for its 2 s timeout; the count is a guard, not a dependency, so the handshake goes on.
 */
const ADMIT_TIMEOUT_MS = 1000;

export function createPresenceFeature(deps: FeatureDeps, links: { registry: InstanceRegistry }): Feature {
  const { config, io } = deps;
  const logger = deps.logger.child({ module: "presence" });
  const storeOptions = { graceMs: config.presence.graceMs, retentionMs: PRESENCE_RETENTION_MS };
  const store = deps.redis
    ? createRedisPresenceStore({
        redis: deps.redis.command,
        keyPrefix: config.redis.keyPrefix,
        ...storeOptions,
      })
    : createMemoryPresenceStore(storeOptions);
  const service = createPresenceService({
    store,
    registry: links.registry,
    logger,
    broadcaster: { changed: (state) => io.to(presenceRoom(state.userId)).emit("presence:changed", state) },
  });
  const { setPerSec, subscribePerSec } = config.presence.rate;
  const limits = {
    set: deps.rateLimiter("presence:set", { points: setPerSec, durationSec: 1 }),
    subscribe: deps.rateLimiter("presence:subscribe", { points: subscribePerSec, durationSec: 1 }),
    // Queries read as much as subscriptions do: same allowance, own budget.
    query: deps.rateLimiter("presence:query", { points: subscribePerSec, durationSec: 1 }),
  };

  const maxConnections = config.socket.maxConnectionsPerUser;

  return {
    name: "presence",
    register: (router) => registerPresenceHandlers(router, service, limits),
    // MAX_CONNECTIONS_PER_USER: the user's connections in the store, every instance's, are
    // the count; the handshake records its own atomically with the check.
    async admit(socket) {
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
    },
    abandon(socket) {
      service.disconnect(socket.id);
    },
    onConnection(socket) {
      service.connect(socket.id, socket.data.user.id);
    },
    onDisconnect(socket) {
      service.disconnect(socket.id);
    },
    stop: () => service.stop(),
  };
}
