import { InMemoryStore } from "@socket.io/admin-ui";
import type { AdminSessionStore } from "./admin/session-store.js";
import { createRedisAdminSessionStore } from "./admin/session-store.js";
import { createMemoryRevocationStore, type RevocationStore } from "./auth/revocation-store.js";
import { createRedisRevocationStore } from "./auth/revocation-store-redis.js";
import { type AccessCache, createMemoryAccessCache } from "./chat/access-cache.js";
import { createRedisAccessCache } from "./chat/access-cache-redis.js";
import { createMemoryRoomFeed } from "./chat/feed-memory.js";
import { createRedisRoomFeed } from "./chat/feed-redis.js";
import type { ChatStoreOptions, ChatStores } from "./chat/index.js";
import { createMemoryMemberStore } from "./chat/member-store-memory.js";
import { createRedisMemberStore } from "./chat/member-store-redis.js";
import { createMemoryMessageStore } from "./chat/message-store-memory.js";
import { createRedisMessageStore } from "./chat/message-store-redis.js";
import { createMemoryRoomListStore } from "./chat/room-list-store-memory.js";
import { createRedisRoomListStore } from "./chat/room-list-store-redis.js";
import type { AdapterKind } from "./infra/adapter.js";
import type { WebhookEventType } from "./infra/config/sections.js";
import type { RedisConnections } from "./infra/redis.js";
import { createMemoryInstanceStore } from "./instances/instance-store-memory.js";
import { createRedisInstanceStore } from "./instances/instance-store-redis.js";
import type { InstanceStore } from "./instances/store.js";
import { createMemoryNotificationStore } from "./notifications/notification-store-memory.js";
import { createRedisNotificationStore } from "./notifications/notification-store-redis.js";
import type { NotificationStore, NotificationStoreOptions } from "./notifications/store.js";
import { createMemoryPresenceStore } from "./presence/presence-store-memory.js";
import { createRedisPresenceStore, presenceKeys } from "./presence/presence-store-redis.js";
import type { PresenceStore, PresenceStoreOptions } from "./presence/store.js";
import type { Outbox, OutboxWriter } from "./webhooks/outbox.js";
import { createMemoryOutbox } from "./webhooks/outbox-memory.js";
import { createRedisOutbox, createRedisOutboxWriter } from "./webhooks/outbox-redis.js";

/** Every feature's stores, on one backend: each feature asks for its own with its options. */
export interface Stores {
  /** The registrations of the running instances (the instance registry's). */
  instances(): InstanceStore;
  chat(options: ChatStoreOptions): ChatStores;
  presence(options: PresenceStoreOptions): PresenceStore;
  notifications(options: NotificationStoreOptions): NotificationStore;
  adminSessions(options: { ttlSec: number; onError: (err: Error, what: string) => void }): AdminSessionStore;
  /** Token revocations per user (the app's one, shared by the verifier and the internal API). */
  revocations(): RevocationStore;
  /** The room access hook's answers per user and room. */
  roomAccess(): AccessCache;
  /** The webhook outbox (memory: not durable); undefined when webhooks are off. */
  outbox: Outbox | undefined;
}

/** With webhooks on: the events the stores write to the outbox, and how many dead letters are kept. */
export interface OutboxSettings {
  events: readonly WebhookEventType[];
  deadLetterMax: number;
}

export interface RedisBackend {
  redis: RedisConnections;
  keyPrefix: string;
  /** The pub/sub kind of every instance, known once the app has asked Redis (chat publishes with it). */
  pubsubKind: () => AdapterKind;
}

/** State shared by every instance, in Redis. */
function redisStores({ redis, keyPrefix, pubsubKind }: RedisBackend, webhooks?: OutboxSettings): Stores {
  const command = redis.command;
  const outbox: OutboxWriter | undefined =
    webhooks && createRedisOutboxWriter({ redis: command, keyPrefix, events: webhooks.events });
  return {
    outbox:
      webhooks && createRedisOutbox({ redis: command, keyPrefix, deadLetterMax: webhooks.deadLetterMax }),
    instances: () => createRedisInstanceStore({ redis: command, keyPrefix }),
    chat: (options) => ({
      messages: createRedisMessageStore({
        redis: command,
        keyPrefix,
        ...options,
        publishCommand: () => (pubsubKind() === "sharded" ? "SPUBLISH" : "PUBLISH"),
        ...(outbox ? { outbox } : {}),
      }),
      members: createRedisMemberStore({
        redis: command,
        keyPrefix,
        registration: options.registration,
        ...(outbox ? { outbox } : {}),
      }),
      feed: createRedisRoomFeed({
        sub: redis.sub,
        pub: command,
        keyPrefix,
        kind: pubsubKind,
        logger: options.logger,
      }),
      roomList: createRedisRoomListStore({ redis: command, keyPrefix, retentionMs: options.retentionMs }),
    }),
    presence: (options) =>
      createRedisPresenceStore({ redis: command, keyPrefix, ...options, ...(outbox ? { outbox } : {}) }),
    notifications: (options) =>
      createRedisNotificationStore({
        redis: command,
        keyPrefix,
        ...options,
        ...(outbox ? { outbox: { writer: outbox, connsKey: presenceKeys(keyPrefix).conns } } : {}),
      }),
    adminSessions: (options) => createRedisAdminSessionStore({ redis: command, keyPrefix, ...options }),
    revocations: () => createRedisRevocationStore({ redis: command, keyPrefix }),
    roomAccess: () => createRedisAccessCache({ redis: command, keyPrefix }),
  };
}

/** A single instance's state, in its memory (lost on restart). */
function memoryStores(webhooks?: OutboxSettings): Stores {
  const memoryOutbox = webhooks && createMemoryOutbox({ deadLetterMax: webhooks.deadLetterMax });
  const outbox = memoryOutbox?.writer(webhooks?.events ?? []);
  // The notification store asks it whether a user is connected (notification.undelivered).
  let presence: ReturnType<typeof createMemoryPresenceStore> | undefined;
  return {
    outbox: memoryOutbox,
    instances: () => createMemoryInstanceStore(),
    chat: (options) => {
      const feed = createMemoryRoomFeed();
      return {
        messages: createMemoryMessageStore({
          ...options,
          idempotencyTtlMs: options.idempotencyTtlSec * 1000,
          publish: feed.publishMessage,
          ...(outbox ? { outbox } : {}),
        }),
        members: createMemoryMemberStore(outbox ? { outbox } : {}),
        feed,
        roomList: createMemoryRoomListStore({ now: options.now }),
      };
    },
    presence: (options) => {
      presence = createMemoryPresenceStore({ ...options, ...(outbox ? { outbox } : {}) });
      return presence;
    },
    notifications: (options) =>
      createMemoryNotificationStore({
        ...options,
        ...(outbox
          ? {
              outbox: {
                writer: outbox,
                hasConnections: (userId) => (presence?.connections(userId) ?? 0) > 0,
              },
            }
          : {}),
      }),
    adminSessions: () => new InMemoryStore(),
    revocations: () => createMemoryRevocationStore(),
    roomAccess: () => createMemoryAccessCache(),
  };
}

/** The one place the backend is chosen: Redis when REDIS_URL is set, memory otherwise. */
export function createStores(backend: RedisBackend | undefined, webhooks?: OutboxSettings): Stores {
  return backend ? redisStores(backend, webhooks) : memoryStores(webhooks);
}
