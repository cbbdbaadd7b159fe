import type { Feature } from "../infra/feature.js";
import type { Logger } from "../infra/logger.js";
import type { RateLimiterFactory } from "../infra/rate-limit.js";
import { createNotificationHandlers } from "./handlers.js";
import {
  createNotificationService,
  type NotificationPublisher,
  type NotificationService,
} from "./service.js";
import type { NotificationStore, NotificationStoreOptions } from "./store.js";

export type { NotificationService } from "./service.js";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Per-user limits on the client events. Not configurable: both are cheap reads/writes
 * of the user's own keys, and a client has no reason to call them more often.
 */
const LIST_RATE = { points: 10, durationSec: 1, burstPoints: 20, burstDurationSec: 10 };
const READ_RATE = { points: 10, durationSec: 1, burstPoints: 20, burstDurationSec: 10 };

export interface NotificationsOptions {
  /** NOTIFICATION_LIMIT: kept per user, newest first. */
  limit: number;
  /** NOTIFICATION_TTL_DAYS: notifications expire after this. */
  ttlDays: number;
}

export interface NotificationsDeps {
  /** The notification store of the backend the app runs on (Redis or memory). */
  store(options: NotificationStoreOptions): NotificationStore;
  /** Sends to a user's sockets on every instance. */
  publisher: NotificationPublisher;
  rateLimiter: RateLimiterFactory;
  logger: Logger;
  /** Counts notifications stored (not replays): the metrics hook. */
  published: { inc(value: number): void };
}

export function createNotificationsFeature(
  options: NotificationsOptions,
  deps: NotificationsDeps,
): Feature & { service: NotificationService } {
  const logger = deps.logger.child({ module: "notifications" });
  const store = deps.store({ limit: options.limit, ttlMs: options.ttlDays * DAY_MS });
  const service = createNotificationService({
    store,
    publisher: deps.publisher,
    logger,
    published: deps.published,
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
    handshake: [handlers.handshake],
    register: handlers.register,
    onConnection: handlers.onConnection,
  };
}
