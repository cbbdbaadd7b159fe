import type { Feature } from "../infra/feature.js";
import type { Logger } from "../infra/logger.js";
import type { RateLimiterFactory } from "../infra/rate-limit.js";
import type { InstanceRegistry } from "../instances/index.js";
import { createRoomGate, type LostReason, type RoomGateDeps } from "./access.js";
import type { RoomFeed } from "./feed.js";
import type { MemberStore } from "./member-store.js";
import { createMembership } from "./membership.js";
import type { MentionNotifier } from "./mentions.js";
import type { MessageStore } from "./message-store.js";
import { createModeration, type ModerationDeps } from "./moderation.js";
import { createRoomRelay, type LocalDelivery } from "./relay.js";
import { createRoomList, type RoomAnnouncer } from "./room-list.js";
import type { RoomListStore } from "./room-list-store.js";
import { type ChatService, checkText, createChatService } from "./service.js";
import { registerChatEvents } from "./socket-handlers.js";

export type { ChatService } from "./service.js";

export interface ChatFeature extends Feature {
  service: ChatService;
}

export interface ChatOptions {
  /** CHAT_MAX_MESSAGE_LENGTH: characters, after trimming. */
  maxMessageLength: number;
  /** CHAT_HISTORY_LIMIT: messages kept per room. */
  historyLimit: number;
  /** CHAT_RETENTION_DAYS; 0: kept until trimmed by historyLimit. */
  retentionDays: number;
  /** CHAT_EDIT_WINDOW_SEC: how long after sending a message may be edited; 0: always. */
  editWindowSec: number;
  /** RATE_CHAT_*: per user, across their sockets and instances. */
  rate: {
    sendPerSec: number;
    sendBurst: number;
    typingPerSec: number;
    joinPerSec: number;
    /** Edits and deletes, one bucket. */
    editPerSec: number;
    reactPerSec: number;
  };
}

/** A room's log, its members across instances and its live channel, on one backend. */
export interface ChatStores {
  messages: MessageStore;
  members: MemberStore;
  feed: RoomFeed;
  /** The rooms each user joined, and each room's followers. */
  roomList: RoomListStore;
}

export interface ChatStoreOptions {
  historyLimit: number;
  /** 0: no time-based retention. */
  retentionMs: number;
  /** `unread` is counted over at most this many of the newest messages. */
  unreadCap: number;
  /** How long a clientMsgId is remembered for an idempotent send. */
  idempotencyTtlSec: number;
  /** This instance's registration in the instance registry: room members are held under it. */
  registration: () => string | undefined;
  now: () => number;
  logger: Logger;
}

export interface ChatDeps {
  /** The chat stores of the backend the app runs on (Redis or memory). */
  stores(options: ChatStoreOptions): ChatStores;
  /** Hands a room's events to this instance's sockets in it. */
  delivery: LocalDelivery;
  /** Offline users a stored message mentions get a notification (none without it). */
  mentions?: MentionNotifier;
  /** Hands `chat:room` to users' sockets that do not follow the room here. */
  announcer: RoomAnnouncer;
  /** Members are written under this instance's registration; dead instances' are reaped through it. */
  registry: InstanceRegistry;
  rateLimiter: RateLimiterFactory;
  logger: Logger;
  /** Once per newly stored message (not for idempotent replays): the metrics hook. */
  onStored(): void;
  /** Room tokens and the backend's access hook, beside the claims. */
  access: Omit<RoomGateDeps, "onLost" | "now">;
  /** Tells the socket it left a room it had joined, on its room token's expiry or the hook's refusal. */
  leftNotice(connId: string, roomId: string, reason: LostReason): void;
  /** MESSAGE_HOOK_URL's call and failure policy; none: messages are stored as sent. */
  moderation?: Omit<ModerationDeps, "checkText" | "logger">;
}

const IDEMPOTENCY_TTL_SEC = 24 * 60 * 60;
/** `chat:rooms` per user per second. */
const ROOMS_PER_SEC = 5;
/** `unread` is counted over at most this many of the newest messages (or the history limit). */
const UNREAD_CAP = 1000;
/** Extra sends allowed above the sustained rate are refilled over this window. */
const SEND_BURST_WINDOW_SEC = 10;

/**
 * Chat: rooms with a durable log (per-room seq and epoch) relayed to every instance's
 * sockets in log order, recovery by position, idempotent send, read positions and room
 * membership, on the stores it is given.
 */
export function createChatFeature(options: ChatOptions, deps: ChatDeps): ChatFeature {
  const logger = deps.logger.child({ module: "chat" });
  const now = Date.now;
  const stores = deps.stores({
    historyLimit: options.historyLimit,
    retentionMs: options.retentionDays * 24 * 60 * 60 * 1000,
    unreadCap: Math.min(UNREAD_CAP, options.historyLimit),
    idempotencyTtlSec: IDEMPOTENCY_TTL_SEC,
    registration: deps.registry.current,
    now,
    logger,
  });
  const relay = createRoomRelay({ feed: stores.feed, log: stores.messages, deliver: deps.delivery, logger });

  const { rate } = options;
  const burst = rate.sendBurst - rate.sendPerSec;
  const limits = {
    send: deps.rateLimiter("chat:send", {
      points: rate.sendPerSec,
      durationSec: 1,
      ...(burst > 0 ? { burstPoints: burst, burstDurationSec: SEND_BURST_WINDOW_SEC } : {}),
    }),
    typing: deps.rateLimiter("chat:typing", { points: rate.typingPerSec, durationSec: 1 }),
    join: deps.rateLimiter("chat:join", { points: rate.joinPerSec, durationSec: 1 }),
    query: deps.rateLimiter("chat:query", { points: rate.joinPerSec, durationSec: 1 }),
    edit: deps.rateLimiter("chat:edit", { points: rate.editPerSec, durationSec: 1 }),
    react: deps.rateLimiter("chat:react", { points: rate.reactPerSec, durationSec: 1 }),
    // A room list reads every listed room's head (up to 500): a bucket of its own, small.
    rooms: deps.rateLimiter("chat:rooms", { points: ROOMS_PER_SEC, durationSec: 1 }),
  };

  const membership = createMembership({
    store: stores.members,
    events: stores.feed,
    logger,
    registry: deps.registry,
    onRoomEmpty: (roomId) => relay.unwatch(roomId),
  });
  // An interrupted feed is the sign that Redis may have lost the rooms' entries too.
  stores.feed.onRestored(() => {
    membership.verify().catch((err: unknown) => logger.error({ err }, "membership check failed"));
  });
  const access = createRoomGate({
    ...deps.access,
    now,
    onLost(conn, roomId, reason) {
      // A grant whose join failed, or a room already left: nothing to leave, nothing to tell.
      if (!service.roomsOf(conn).includes(roomId)) return;
      // Leaving as chat:leave would: the room hears the member leave when it was the user's last socket.
      // The backend refused the user (not one socket's token): the room leaves their list too,
      // so its `chat:room` announcements stop reaching them.
      service
        .leave(conn, conn.data.user, { roomId, ...(reason === "denied" ? { forget: true } : {}) })
        .then(() => deps.leftNotice(conn.id, roomId, reason))
        .catch((err: unknown) => logger.error({ err, roomId }, "leaving a room no longer granted failed"));
    },
  });
  const roomList = createRoomList({
    store: stores.roomList,
    messages: stores.messages,
    announcer: deps.announcer,
    now,
    logger,
    granted: (user, roomId, conn) => access.allows(conn, user, roomId),
  });
  const service = createChatService({
    messages: stores.messages,
    membership,
    relay,
    access,
    ...(deps.moderation
      ? {
          moderation: createModeration({
            ...deps.moderation,
            checkText: (text) => checkText(text, options.maxMessageLength),
            logger,
          }),
        }
      : {}),
    events: stores.feed,
    now,
    maxMessageLength: options.maxMessageLength,
    editWindowMs: options.editWindowSec * 1000,
    roomList,
    ...(deps.mentions ? { mentions: deps.mentions } : {}),
    onStored: deps.onStored,
  });

  const onDisconnectError = (err: unknown) => logger.error({ err }, "chat disconnect cleanup failed");

  return {
    name: "chat",
    service,
    register(router) {
      registerChatEvents(router, service, roomList, limits);
    },
    async onUserChanged(socket) {
      // A refreshed token may grant fewer rooms: leave those as chat:leave would.
      const user = socket.data.user;
      const rooms = service.roomsOf(socket);
      const granted = await Promise.all(rooms.map((roomId) => access.stillGranted(socket, user, roomId)));
      const dropped = rooms.filter((_, i) => !granted[i]);
      await Promise.all(dropped.map((roomId) => service.leave(socket, user, { roomId })));
      return dropped;
    },
    onDisconnecting(socket) {
      // Leaving by disconnect counts as leaving every chat room (seen while the socket still has them).
      service.disconnect(socket, socket.data.user).catch(onDisconnectError);
    },
    async stop() {
      access.stop();
      roomList.stop();
      membership.stop();
      stores.feed.close();
    },
  };
}
