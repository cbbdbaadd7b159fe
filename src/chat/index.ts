import type { FeatureDeps } from "../app.js";
import type { Feature } from "../infra/feature.js";
import { roomAccess } from "./policy.js";
import { type ChatService, createChatService } from "./service.js";
import { createSocketBroadcaster, registerChatEvents } from "./socket-handlers.js";
import { createMemoryMemberStore, createMemoryMessageStore } from "./store-memory.js";
import { createRedisMemberStore, createRedisMessageStore } from "./store-redis.js";

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
 * Chat: rooms, durable history with recovery by message id, idempotent send, read
 * positions and room membership, on Redis when configured (in memory otherwise).
 */
export function createChatFeature(deps: FeatureDeps): ChatFeature {
  const { config } = deps;
  const chat = config.chat;
  const logger = deps.logger.child({ module: "chat" });
  const now = Date.now;
  const retentionMs = chat.retentionDays * 24 * 60 * 60 * 1000;
  const unreadCap = Math.min(UNREAD_CAP, chat.historyLimit);
  // Room membership lives as long as presence: an instance silent for PRESENCE_TTL_MS is gone.
  const memberTtlMs = config.presence.ttlMs;

  const stores = deps.redis
    ? {
        messages: createRedisMessageStore({
          redis: deps.redis.command,
          keyPrefix: config.redis.keyPrefix,
          historyLimit: chat.historyLimit,
          retentionMs,
          idempotencyTtlSec: IDEMPOTENCY_TTL_SEC,
          unreadCap,
        }),
        members: createRedisMemberStore({
          redis: deps.redis.command,
          keyPrefix: config.redis.keyPrefix,
          instanceId: deps.instanceId,
          ttlMs: memberTtlMs,
        }),
      }
    : {
        messages: createMemoryMessageStore({
          historyLimit: chat.historyLimit,
          retentionMs,
          idempotencyTtlMs: IDEMPOTENCY_TTL_SEC * 1000,
          unreadCap,
          now,
        }),
        members: createMemoryMemberStore(),
      };

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

  const service = createChatService({
    ...stores,
    broadcaster: createSocketBroadcaster(deps.io),
    logger: deps.logger,
    now,
    maxMessageLength: chat.maxMessageLength,
    memberRefreshMs: Math.max(100, Math.floor(memberTtlMs / 3)),
    sendLimit: limits.send,
    onStored: () => deps.metrics.messagesStored.inc(),
  });

  const onDisconnectError = (err: unknown) => logger.error({ err }, "chat disconnect cleanup failed");

  // Pub/sub is fire-and-forget: what other instances published while this instance's
  // subscriber connection was down never arrives here. Once it is back (and resubscribed),
  // tell the local sockets of every room to catch up from the history, from a little
  // before the link went down (ids are Redis times: the margin covers clock skew and
  // publishes still in flight when it dropped).
  const RESYNC_AFTER_READY_MS = 250;
  const RESYNC_MARGIN_MS = 2000;
  let subscriberDownSince: number | undefined;
  let resyncTimer: NodeJS.Timeout | undefined;
  const onSubscriberClosed = () => {
    subscriberDownSince ??= now();
  };
  const onSubscriberReady = () => {
    if (subscriberDownSince === undefined) return;
    const since = `${Math.max(0, subscriberDownSince - RESYNC_MARGIN_MS)}-0`;
    subscriberDownSince = undefined;
    clearTimeout(resyncTimer);
    resyncTimer = setTimeout(() => {
      logger.info(
        { rooms: service.localRoomCount(), since },
        "pub/sub link restored: asking local sockets to resync",
      );
      service.resyncLocalRooms(since);
    }, RESYNC_AFTER_READY_MS);
    resyncTimer.unref();
  };

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
    async start() {
      service.start();
      deps.redis?.sub.on("close", onSubscriberClosed);
      deps.redis?.sub.on("ready", onSubscriberReady);
    },
    async stop() {
      deps.redis?.sub.off("close", onSubscriberClosed);
      deps.redis?.sub.off("ready", onSubscriberReady);
      clearTimeout(resyncTimer);
      service.stop();
    },
  };
}
