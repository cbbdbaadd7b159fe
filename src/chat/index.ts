import type { FeatureDeps } from "../app.js";
import type { Feature } from "../infra/feature.js";
import type { InstanceRegistry } from "../instances/index.js";
import type { RoomFeed } from "./feed.js";
import { createMemoryRoomFeed } from "./feed-memory.js";
import { createRedisRoomFeed } from "./feed-redis.js";
import { createMemoryMemberStore } from "./member-store-memory.js";
import { createRedisMemberStore } from "./member-store-redis.js";
import { createMembership } from "./membership.js";
import { createMemoryMessageStore } from "./message-store-memory.js";
import { createRedisMessageStore } from "./message-store-redis.js";
import { roomAccess } from "./policy.js";
import { createRoomRelay } from "./relay.js";
import { type ChatService, createChatService } from "./service.js";
import { createLocalDelivery, registerChatEvents } from "./socket-handlers.js";
import type { MemberStore, MessageStore } from "./store.js";

export type { ChatService } from "./service.js";

export interface ChatFeature extends Feature {
  service: ChatService;
}

const IDEMPOTENCY_TTL_SEC = 24 * 60 * 60;
/** `unread` is counted over at most this many of the newest messages (or the history limit). */
const UNREAD_CAP = 1000;
/** Extra sends allowed above the sustained rate are refilled over this window. */
const SEND_BURST_WINDOW_SEC = 10;

/**
 * Chat: rooms with a durable log (per-room seq and epoch) relayed to every instance's
 * sockets in log order, recovery by position, idempotent send, read positions and room
 * membership, on Redis when configured (in memory otherwise).
 */
export function createChatFeature(deps: FeatureDeps, links: { registry: InstanceRegistry }): ChatFeature {
  const { config } = deps;
  const chat = config.chat;
  const logger = deps.logger.child({ module: "chat" });
  const now = Date.now;
  const retentionMs = chat.retentionDays * 24 * 60 * 60 * 1000;
  const unreadCap = Math.min(UNREAD_CAP, chat.historyLimit);

  const storeOptions = { historyLimit: chat.historyLimit, retentionMs, unreadCap };
  let stores: { messages: MessageStore; members: MemberStore; feed: RoomFeed };
  if (deps.redis) {
    const kind = deps.pubsubKind;
    stores = {
      messages: createRedisMessageStore({
        redis: deps.redis.command,
        keyPrefix: config.redis.keyPrefix,
        ...storeOptions,
        idempotencyTtlSec: IDEMPOTENCY_TTL_SEC,
        publishCommand: () => (kind() === "sharded" ? "SPUBLISH" : "PUBLISH"),
      }),
      members: createRedisMemberStore({
        redis: deps.redis.command,
        keyPrefix: config.redis.keyPrefix,
        registration: links.registry.current,
      }),
      feed: createRedisRoomFeed({
        sub: deps.redis.sub,
        pub: deps.redis.command,
        keyPrefix: config.redis.keyPrefix,
        kind,
        logger,
      }),
    };
  } else {
    const feed = createMemoryRoomFeed();
    stores = {
      messages: createMemoryMessageStore({
        ...storeOptions,
        idempotencyTtlMs: IDEMPOTENCY_TTL_SEC * 1000,
        now,
        publish: feed.publishMessage,
      }),
      members: createMemoryMemberStore(),
      feed,
    };
  }
  const relay = createRoomRelay({
    feed: stores.feed,
    log: stores.messages,
    deliver: createLocalDelivery(deps.io),
    logger,
  });

  const burst = chat.rate.sendBurst - chat.rate.sendPerSec;
  const limits = {
    send: deps.rateLimiter("chat:send", {
      points: chat.rate.sendPerSec,
      durationSec: 1,
      ...(burst > 0 ? { burstPoints: burst, burstDurationSec: SEND_BURST_WINDOW_SEC } : {}),
    }),
    typing: deps.rateLimiter("chat:typing", { points: chat.rate.typingPerSec, durationSec: 1 }),
    join: deps.rateLimiter("chat:join", { points: chat.rate.joinPerSec, durationSec: 1 }),
    query: deps.rateLimiter("chat:query", { points: chat.rate.joinPerSec, durationSec: 1 }),
  };

  const membership = createMembership({
    store: stores.members,
    events: stores.feed,
    logger,
    registry: links.registry,
    onRoomEmpty: (roomId) => relay.unwatch(roomId),
  });
  // An interrupted feed is the sign that Redis may have lost the rooms' entries too.
  stores.feed.onRestored(() => {
    membership.verify().catch((err: unknown) => logger.error({ err }, "membership check failed"));
  });
  const service = createChatService({
    messages: stores.messages,
    membership,
    relay,
    events: stores.feed,
    now,
    maxMessageLength: chat.maxMessageLength,
    sendLimit: limits.send,
    onStored: () => deps.metrics.messagesStored.inc(),
  });

  const onDisconnectError = (err: unknown) => logger.error({ err }, "chat disconnect cleanup failed");

  return {
    name: "chat",
    service,
    register(router) {
      registerChatEvents(router, service, limits);
    },
    async onUserChanged(socket) {
      // A refreshed token may grant fewer rooms: leave those as chat:leave would.
      const user = socket.data.user;
      const dropped = service.roomsOf(socket).filter((roomId) => !roomAccess(user, roomId).allowed);
      await Promise.all(dropped.map((roomId) => service.leave(socket, user, { roomId })));
      return dropped;
    },
    onDisconnecting(socket) {
      // Leaving by disconnect counts as leaving every chat room (seen while the socket still has them).
      service.disconnect(socket, socket.data.user).catch(onDisconnectError);
    },
    async stop() {
      membership.stop();
      stores.feed.close();
    },
  };
}
