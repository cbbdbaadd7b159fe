import type { FeatureDeps } from "../app.js";
import type { Feature } from "../infra/feature.js";
import { createNotificationHandlers, createSocketNotificationPublisher } from "./handlers.js";
import { createMemoryNotificationStore } from "./notification-store-memory.js";
import { createRedisNotificationStore } from "./notification-store-redis.js";
import { createNotificationService, type NotificationService } from "./service.js";

export type { NotificationService } from "./service.js";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Per-user limits on the client events. Not configurable: both are cheap reads/writes
 * of the user's own keys, and a client has no reason to call them more often.
 */
const LIST_RATE = { points: 10, durationSec: 1, burstPoints: 20, burstDurationSec: 10 };
const READ_RATE = { points: 10, durationSec: 1, burstPoints: 20, burstDurationSec: 10 };

export function createNotificationsFeature(deps: FeatureDeps): Feature & { service: NotificationService } {
  const logger = deps.logger.child({ module: "notifications" });
  const options = {
    limit: deps.config.notifications.limit,
    ttlMs: deps.config.notifications.ttlDays * DAY_MS,
  };
  const store = deps.redis
    ? createRedisNotificationStore({
        redis: deps.redis.command,
        keyPrefix: deps.config.redis.keyPrefix,
        ...options,
      })
    : createMemoryNotificationStore(options);
  const service = createNotificationService({
    store,
    publisher: createSocketNotificationPublisher(deps.io),
    logger,
    published: deps.metrics.notificationsPublished,
  });
  const handlers = createNotificationHandlers({
    service,
    logger,
    listLimit: deps.rateLimiter("notification-list", LIST_RATE),
    readLimit: deps.rateLimiter("notification-read", READ_RATE),
  });
  return {
    name: "notifications",
    service,
    register: handlers.register,
    onConnection: handlers.onConnection,
  };
}
