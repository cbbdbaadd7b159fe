import type { RedisClient } from "../infra/redis.js";
import { defineScript } from "../infra/redis-script.js";
import type { Notification } from "../protocol/index.js";
import type { OutboxWriter } from "../webhooks/outbox.js";
import { ADD_LUA, LIST_LUA, READ_LUA } from "./notification-store.lua.js";
import type { AddResult, NotificationContent, NotificationStore, NotificationStoreOptions } from "./store.js";

/** LIST_LUA's reply: the unread count, more (1/0), then id, content JSON, read time per item. */
type ListReply = [unreadCount: number, hasMore: number, flat: (string | null)[]];
/** ADD_LUA's reply: a new id, or a replayed one with the content it stored (false: dropped since). */
type AddReply = [id: string, replayed: number, priorOrUndelivered?: string | number | null];

const hydrate = (id: string, content: NotificationContent, readAt: number | null): Notification => ({
  id,
  ...content,
  createdAt: Number(id.slice(0, id.indexOf("-"))),
  readAt,
});

export interface RedisNotificationStoreOptions extends NotificationStoreOptions {
  redis: RedisClient;
  keyPrefix: string;
  /**
   * Where `notification.undelivered` goes, in the insert's own step (unset: no webhooks),
   * and the user's presence connections key (same hash tag) that says whether anyone was online.
   */
  outbox?: { writer: OutboxWriter; connsKey: (userId: string) => string };
}

/** Each user's notifications on their own keys (layout and scripts: `notification-store.lua.ts`). */
export function createRedisNotificationStore(options: RedisNotificationStoreOptions): NotificationStore {
  const { redis, keyPrefix, limit, ttlMs } = options;
  const addScript = defineScript(redis, {
    name: "notificationsAdd",
    lua: ADD_LUA,
    decode: (r) => r as AddReply,
  });
  const listScript = defineScript(redis, {
    name: "notificationsList",
    lua: LIST_LUA,
    keys: 4,
    decode: (r) => r as ListReply,
  });
  const readScript = defineScript(redis, {
    name: "notificationsRead",
    lua: READ_LUA,
    keys: 4,
    decode: Number,
  });

  const keys = (userId: string): [string, string, string, string] => {
    const base = `${keyPrefix}notif:{${userId}}`;
    return [`${base}:ids`, `${base}:unread`, `${base}:items`, `${base}:readat`];
  };

  return {
    async add(userIds, content: NotificationContent, now, idempotency): Promise<AddResult[]> {
      const json = JSON.stringify(content);
      // All users at once: a publish may address 1000 of them. The command client
      // auto-pipelines, so this is one write per Redis node, and on a cluster each user's
      // script goes to the node of its slot (an explicit pipeline must stay in one slot).
      return Promise.all(
        userIds.map(async (userId) => {
          const userKeys: string[] = keys(userId);
          const writer = options.outbox?.writer;
          // Without an outbox, keys of the user's own slot stand in, never read or written.
          userKeys.push(
            options.outbox?.connsKey(userId) ?? (userKeys[0] as string),
            writer?.script?.key ?? (userKeys[0] as string),
          );
          if (idempotency) userKeys.push(`${keyPrefix}notif:{${userId}}:idem:${idempotency.hash}`);
          const [id, replayed, third] = await addScript(userKeys, [
            now,
            ttlMs,
            limit,
            json,
            idempotency?.ttlMs ?? 0,
            writer?.script?.spec ?? "",
            userId,
          ]);
          if (replayed !== 1) {
            const notification = hydrate(id, content, null);
            if (Number(third) === 1 && writer && !writer.script && writer.wants("notification.undelivered")) {
              // Redis Cluster: the outbox is in another slot, a second command (docs/storage.md).
              const { readAt: _, ...stored } = notification;
              await writer.append(
                "notification.undelivered",
                JSON.stringify({ userId, notification: stored }),
              );
            }
            return { id, notification, replayed: false };
          }
          const prior = typeof third === "string" ? third : undefined;
          const stored = prior ? hydrate(id, JSON.parse(prior) as NotificationContent, null) : undefined;
          return { id, notification: stored, replayed: true };
        }),
      );
    },

    async list(userId, query, now) {
      const [unreadCount, hasMore, flat] = await listScript(keys(userId), [
        now - ttlMs,
        query.limit,
        query.before ? query.before.ms : "",
        query.before ? query.before.seq : "",
        query.unreadOnly ? "1" : "0",
      ]);
      const items: Notification[] = [];
      for (let i = 0; i < flat.length; i += 3) {
        const id = flat[i] as string;
        const json = flat[i + 1];
        if (!json) continue;
        const readAt = flat[i + 2];
        items.push(hydrate(id, JSON.parse(json) as NotificationContent, readAt ? Number(readAt) : null));
      }
      return { items, unreadCount, hasMore: hasMore === 1 };
    },

    async markRead(userId, target, now) {
      const which = "all" in target ? ["all"] : ["ids", ...target.ids];
      return readScript(keys(userId), [now, ttlMs, ...which]);
    },

    async unreadCount(userId, now) {
      return redis.zcount(keys(userId)[1], now - ttlMs, "+inf");
    },
  };
}
