import { createHash } from "node:crypto";
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

export interface IdempotencyOptions {
  /** How long a key answers with the first request's ids. @default 24 h */
  ttlMs: number;
  /** How long a claim survives a publisher that died mid-request. @default 30 s */
  pendingMs: number;
  /** How long a duplicate waits for the first request to finish before answering UNAVAILABLE. @default 3 s */
  waitMs: number;
}

export interface NotificationServiceDeps {
  store: NotificationStore;
  publisher: NotificationPublisher;
  logger: Logger;
  /** Counts stored notifications (one per recipient); replays count nothing. */
  published?: { inc(value: number): void };
  clock?: () => number;
  idempotency?: Partial<IdempotencyOptions>;
}

export const DEFAULT_LIST_LIMIT = 20;
const IDEMPOTENCY_POLL_MS = 50;

export function createNotificationService(deps: NotificationServiceDeps): NotificationService {
  const { store, publisher } = deps;
  const log = deps.logger;
  const now = deps.clock ?? Date.now;
  const idem: IdempotencyOptions = {
    ttlMs: 24 * 60 * 60 * 1000,
    pendingMs: 30_000,
    waitMs: 3000,
    ...deps.idempotency,
  };

  const deliver = async (userIds: string[], content: NotificationContent): Promise<PublishedRef[]> => {
    const stored = await store.add(userIds, content, now());
    deps.published?.inc(stored.length);
    // Recipients whose copy got the same id (the usual case) share one broadcast: one
    // Redis publish for a thousand users instead of a thousand.
    const byId = new Map<string, { notification: Notification; userIds: string[] }>();
    const refs = stored.map((notification, i) => {
      const userId = userIds[i] as string;
      const group = byId.get(notification.id);
      if (group) group.userIds.push(userId);
      else byId.set(notification.id, { notification, userIds: [userId] });
      return { userId, id: notification.id };
    });
    for (const { notification, userIds: recipients } of byId.values())
      publisher.notify(recipients, notification);
    return refs;
  };

  /** Runs `deliver` at most once per key, however many instances receive the same request. */
  const deliverOnce = async (
    keyHash: string,
    userIds: string[],
    content: NotificationContent,
  ): Promise<PublishResult> => {
    const deadline = now() + idem.waitMs;
    for (;;) {
      const claim = await store.claimIdempotency(keyHash, now(), idem.pendingMs);
      if (claim.state === "done") return { notifications: claim.result, replayed: true };
      if (claim.state === "claimed") break;
      if (now() >= deadline) {
        throw new AppError("UNAVAILABLE", "a request with this idempotencyKey is still in progress, retry");
      }
      await new Promise((resolve) => setTimeout(resolve, IDEMPOTENCY_POLL_MS));
    }
    let notifications: PublishedRef[];
    try {
      notifications = await deliver(userIds, content);
    } catch (err) {
      await store.releaseIdempotency(keyHash).catch(() => {
        // the claim then lapses after pendingMs: a retry only waits longer
      });
      throw err;
    }
    await store.completeIdempotency(keyHash, notifications, now(), idem.ttlMs);
    return { notifications, replayed: false };
  };

  return {
    async publish(input) {
      const { userIds, idempotencyKey, ...content } = input;
      // One notification per user, however often a backend lists them.
      const unique = [...new Set(userIds)];
      const result = idempotencyKey
        ? await deliverOnce(createHash("sha256").update(idempotencyKey).digest("hex"), unique, content)
        : { notifications: await deliver(unique, content), replayed: false };
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
