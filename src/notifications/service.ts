import { sha256 } from "../infra/digest.js";
import type { Logger } from "../infra/logger.js";
import { AppError, type Notification, type NotificationListResult } from "../protocol/index.js";
import {
  type NotificationContent,
  type NotificationStore,
  type PublishedRef,
  parseNotificationId,
  type ReadTarget,
} from "./store.js";

/** How the service reaches users' devices; the socket layer implements it with the user rooms. */
export interface NotificationPublisher {
  /** To every connected device of these users, on every instance (one broadcast for all of them). */
  notify(userIds: string[], notification: Notification): void;
  unread(userId: string, count: number): void;
}

export interface PublishInput extends NotificationContent {
  userIds: string[];
  idempotencyKey?: string;
}

export interface PublishResult {
  notifications: PublishedRef[];
  /** True when an earlier request with the same idempotency key created them. */
  replayed: boolean;
}

export interface ListInput {
  limit?: number;
  before?: string;
  unreadOnly?: boolean;
}

export interface NotificationService {
  publish(input: PublishInput): Promise<PublishResult>;
  list(userId: string, input: ListInput): Promise<NotificationListResult>;
  /** Marks as read and tells every device of the user the new count; returns it. */
  markRead(userId: string, target: ReadTarget): Promise<number>;
  unreadCount(userId: string): Promise<number>;
}

/** How long an idempotency key answers with the first request's ids. */
const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export interface NotificationServiceDeps {
  store: NotificationStore;
  publisher: NotificationPublisher;
  logger: Logger;
  /** Counts stored notifications (one per recipient); replays count nothing. */
  published?: { inc(value: number): void };
  clock?: () => number;
}

export const DEFAULT_LIST_LIMIT = 20;

export function createNotificationService(deps: NotificationServiceDeps): NotificationService {
  const { store, publisher } = deps;
  const log = deps.logger;
  const now = deps.clock ?? Date.now;
  const deliver = async (
    userIds: string[],
    content: NotificationContent,
    idempotencyKey: string | undefined,
  ): Promise<PublishResult> => {
    const idempotency = idempotencyKey && {
      hash: sha256(idempotencyKey).toString("hex"),
      ttlMs: IDEMPOTENCY_TTL_MS,
    };
    const results = await store.add(userIds, content, now(), idempotency || undefined);
    deps.published?.inc(results.filter((r) => !r.replayed).length);
    // Recipients whose copy got the same id (the usual case) share one broadcast: one
    // Redis publish for a thousand users instead of a thousand. A replay is sent again
    // (same id): the first request may have stored it and died before sending it.
    const byId = new Map<string, { notification: Notification; userIds: string[] }>();
    results.forEach(({ notification }, i) => {
      if (!notification) return;
      const userId = userIds[i] as string;
      const group = byId.get(notification.id);
      if (group) group.userIds.push(userId);
      else byId.set(notification.id, { notification, userIds: [userId] });
    });
    for (const { notification, userIds: recipients } of byId.values())
      publisher.notify(recipients, notification);
    return {
      notifications: results.map(({ id }, i) => ({ userId: userIds[i] as string, id })),
      replayed: results.length > 0 && results.every((r) => r.replayed),
    };
  };

  return {
    async publish(input) {
      const { userIds, idempotencyKey, ...content } = input;
      // One notification per user, however often a backend lists them.
      const unique = [...new Set(userIds)];
      const result = await deliver(unique, content, idempotencyKey);
      // Never `body` or `data`: they may carry personal data.
      log.info(
        { users: unique.length, type: content.type, idempotencyKey, replayed: result.replayed },
        "notifications published",
      );
      return result;
    },

    async list(userId, input) {
      let before: ReturnType<typeof parseNotificationId>;
      if (input.before !== undefined) {
        before = parseNotificationId(input.before);
        if (!before) {
          throw new AppError("INVALID_PAYLOAD", "before is not a notification id", {
            fields: [{ path: "before", message: "must be a notification id" }],
          });
        }
      }
      return store.list(
        userId,
        { limit: input.limit ?? DEFAULT_LIST_LIMIT, before, unreadOnly: input.unreadOnly ?? false },
        now(),
      );
    },

    async markRead(userId, target) {
      const count = await store.markRead(userId, target, now());
      publisher.unread(userId, count);
      return count;
    },

    unreadCount(userId) {
      return store.unreadCount(userId, now());
    },
  };
}
