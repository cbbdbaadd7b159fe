import type { Notification } from "../protocol/index.js";
import type { OutboxWriter } from "../webhooks/outbox.js";
import {
  type AddResult,
  compareNotificationIds,
  formatNotificationId,
  type NotificationContent,
  type NotificationId,
  type NotificationStore,
  type NotificationStoreOptions,
  nextNotificationId,
} from "./store.js";

interface Entry {
  id: NotificationId;
  notification: Notification;
}

interface UserState {
  /** Oldest first: new entries always go at the end because ids only grow. */
  entries: Entry[];
  unread: Set<string>;
  last: NotificationId | undefined;
  /** Like the Redis keys' TTL: the whole state goes when nothing was written for ttlMs. */
  expiresAt: number;
}

/** What a key created for one user: `${userId}\n${keyHash}` → the id. */
type IdempotencyEntry = { id: string; expiresAt: number };

/** Sweeping every user on each write would be O(users); every this many writes is enough. */
const SWEEP_EVERY = 1000;

/** The single-instance store (no REDIS_URL): same contract as the Redis one, lost on restart. */
export function createMemoryNotificationStore(
  options: NotificationStoreOptions & {
    /** Where `notification.undelivered` goes, and whether a user has a connection now. */
    outbox?: { writer: OutboxWriter; hasConnections: (userId: string) => boolean };
  },
): NotificationStore {
  const users = new Map<string, UserState>();
  const idempotencyKeys = new Map<string, IdempotencyEntry>();
  let writes = 0;

  const live = (userId: string, now: number): UserState | undefined => {
    const state = users.get(userId);
    if (!state) return undefined;
    if (state.expiresAt <= now) {
      users.delete(userId);
      return undefined;
    }
    const cutoff = now - options.ttlMs;
    let expired = 0;
    while (expired < state.entries.length && (state.entries[expired] as Entry).id.ms < cutoff) expired++;
    for (const entry of state.entries.splice(0, expired)) state.unread.delete(entry.notification.id);
    return state;
  };

  const sweep = (now: number) => {
    for (const userId of users.keys()) live(userId, now);
    for (const [key, entry] of idempotencyKeys) if (entry.expiresAt <= now) idempotencyKeys.delete(key);
  };

  const copy = (entry: Entry): Notification => ({ ...entry.notification });

  return {
    async add(userIds, content: NotificationContent, now, idempotency): Promise<AddResult[]> {
      writes += userIds.length;
      if (writes >= SWEEP_EVERY) {
        writes = 0;
        sweep(now);
      }
      return userIds.map((userId) => {
        const idemKey = idempotency && `${userId}\n${idempotency.hash}`;
        const prior = idemKey === undefined ? undefined : idempotencyKeys.get(idemKey);
        let state = live(userId, now);
        if (prior && prior.expiresAt > now) {
          const kept = state?.entries.find((e) => e.notification.id === prior.id);
          return { id: prior.id, notification: kept && copy(kept), replayed: true };
        }
        if (!state) {
          state = { entries: [], unread: new Set(), last: undefined, expiresAt: 0 };
          users.set(userId, state);
        }
        const id = nextNotificationId(state.last, now);
        state.last = id;
        const notification: Notification = {
          id: formatNotificationId(id),
          ...content,
          createdAt: id.ms,
          readAt: null,
        };
        state.entries.push({ id, notification });
        state.unread.add(notification.id);
        for (const dropped of state.entries.splice(0, Math.max(0, state.entries.length - options.limit))) {
          state.unread.delete(dropped.notification.id);
        }
        state.expiresAt = now + options.ttlMs;
        if (idemKey && idempotency) {
          idempotencyKeys.set(idemKey, { id: notification.id, expiresAt: now + idempotency.ttlMs });
        }
        const outbox = options.outbox;
        if (outbox?.writer.wants("notification.undelivered") && !outbox.hasConnections(userId)) {
          const { readAt: _, ...stored } = notification;
          void outbox.writer.append(
            "notification.undelivered",
            JSON.stringify({ userId, notification: stored }),
          );
        }
        return { id: notification.id, notification: { ...notification }, replayed: false };
      });
    },

    async list(userId, query, now) {
      const state = live(userId, now);
      if (!state) return { items: [], unreadCount: 0, hasMore: false };
      const items: Notification[] = [];
      let hasMore = false;
      for (let i = state.entries.length - 1; i >= 0; i--) {
        const entry = state.entries[i] as Entry;
        if (query.before && compareNotificationIds(entry.id, query.before) >= 0) continue;
        if (query.unreadOnly && !state.unread.has(entry.notification.id)) continue;
        if (items.length === query.limit) {
          hasMore = true;
          break;
        }
        items.push(copy(entry));
      }
      return { items, unreadCount: state.unread.size, hasMore };
    },

    async markRead(userId, target, now) {
      const state = live(userId, now);
      if (!state) return 0;
      const ids = "all" in target ? new Set(state.unread) : new Set(target.ids);
      for (const entry of state.entries) {
        if (ids.has(entry.notification.id) && state.unread.delete(entry.notification.id)) {
          entry.notification.readAt = now;
        }
      }
      return state.unread.size;
    },

    async unreadCount(userId, now) {
      return live(userId, now)?.unread.size ?? 0;
    },
  };
}
