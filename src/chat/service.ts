import type { Logger } from "../infra/logger.js";
import type { RateLimiter } from "../infra/rate-limit.js";
import {
  AppError,
  type AuthenticatedUser,
  type ChatHistoryPayload,
  type ChatHistoryResult,
  type ChatJoinPayload,
  type ChatJoinResult,
  type ChatLeavePayload,
  type ChatReadPayload,
  type ChatSendPayload,
  type ChatTypingPayload,
  type Message,
  USER_ID_PATTERN,
} from "../protocol/index.js";
import { LocalRooms } from "./local-rooms.js";
import { compareMessageIds, normalizeMessageId } from "./message-id.js";
import { assertNotReserved, assertRoomAccess, assertRoomId } from "./policy.js";
import type {
  AppendLimit,
  MemberChange,
  MemberStore,
  MemberSync,
  MessagePage,
  MessageStore,
} from "./store.js";

/** Messages in a `chat:join` answer without `since`, and after a failed recovery. */
export const JOIN_PAGE = 50;
/** Messages a recovering `chat:join` (with `since`) returns at most. */
export const RECOVERY_PAGE = 200;
export const HISTORY_DEFAULT_LIMIT = 50;

/**
 * What the service needs of a connection: a Socket.IO socket fits as it is, so the
 * hot path allocates nothing to adapt it.
 */
export interface RoomConnection {
  readonly id: string;
  readonly connected: boolean;
  readonly rooms: ReadonlySet<string>;
  /** May return a promise that settles once the room's broadcasts are sure to reach this connection. */
  join(roomId: string): unknown;
  leave(roomId: string): unknown;
}

/** Delivery to everyone in a room, on every instance (the socket layer implements it). */
export interface ChatBroadcaster {
  message(message: Message): void;
  /** To the room except the typing user's own sockets. */
  typing(roomId: string, userId: string, typing: boolean): void;
  read(roomId: string, userId: string, messageId: string): void;
  member(change: MemberChange): void;
  /** To this instance's sockets in the room only: they may have missed live messages after `since`. */
  resync(roomId: string, since: string): void;
}

export interface ChatServiceDeps {
  messages: MessageStore;
  members: MemberStore;
  broadcaster: ChatBroadcaster;
  logger: Logger;
  now: () => number;
  maxMessageLength: number;
  /** How often this instance renews its room memberships in the member store. */
  memberRefreshMs: number;
  /**
   * Per user, applied by the store with the write (chat:send only; system messages are
   * limited by the internal API).
   */
  sendLimit?: RateLimiter;
  /** Called once per newly stored message (not for idempotent replays): the metrics hook. */
  onStored?: () => void;
}

export interface ChatService {
  join(conn: RoomConnection, user: AuthenticatedUser, payload: ChatJoinPayload): Promise<ChatJoinResult>;
  leave(
    conn: RoomConnection,
    user: AuthenticatedUser,
    payload: ChatLeavePayload,
  ): Promise<{ roomId: string }>;
  send(conn: RoomConnection, user: AuthenticatedUser, payload: ChatSendPayload): Promise<Message>;
  history(user: AuthenticatedUser, payload: ChatHistoryPayload): Promise<ChatHistoryResult>;
  typing(conn: RoomConnection, user: AuthenticatedUser, payload: ChatTypingPayload): { roomId: string };
  read(user: AuthenticatedUser, payload: ChatReadPayload): Promise<{ roomId: string; messageId: string }>;
  /** The connection is going away: it leaves every chat room it joined. */
  disconnect(conn: RoomConnection, user: AuthenticatedUser): Promise<void>;
  /** The chat rooms this connection has joined (here, through `join`). */
  roomsOf(conn: RoomConnection): string[];
  /**
   * Store and broadcast a message on behalf of the system (internal API). Validates
   * like `chat:send`: INVALID_PAYLOAD for a bad room id, sender id or text.
   */
  postSystemMessage(roomId: string, text: string, senderId?: string): Promise<Message>;
  /**
   * Tell this instance's sockets in every room to catch up from the history after `since`
   * (a message-id lower bound): called when the pub/sub link to the other instances was
   * interrupted (messages published meanwhile were never delivered here live).
   */
  resyncLocalRooms(since: string): void;
  /** Rooms with sockets on this instance. */
  localRoomCount(): number;
  start(): void;
  stop(): void;
}

function invalid(path: string, message: string): AppError {
  return new AppError("INVALID_PAYLOAD", `${path} ${message}`, { fields: [{ path, message }] });
}

/** The text as stored: trimmed, 1..max characters (code points, so emoji count once). */
export function checkText(text: string, max: number): string {
  const trimmed = text.trim();
  if (trimmed.length === 0) throw invalid("text", "must not be empty");
  // UTF-16 length bounds the code point count from above: count only when it could matter.
  if (trimmed.length > max) {
    let count = 0;
    for (const _ of trimmed) {
      if (++count > max) throw invalid("text", `must be at most ${max} characters`);
    }
  }
  return trimmed;
}

export function createChatService(deps: ChatServiceDeps): ChatService {
  const log = deps.logger.child({ module: "chat" });
  const { messages, members, broadcaster } = deps;
  const local = new LocalRooms();
  // Rooms whose entries in the member store may disagree with `local` (a write failed):
  // the next refresh rewrites them.
  const dirty = new Set<string>();
  let refreshTimer: NodeJS.Timeout | undefined;
  let refreshing = false;
  let memberStoreDown = false;

  const emitChanges = (sync: MemberSync, skipUserInRoom?: { roomId: string; userId: string }) => {
    for (const change of sync.changes) {
      if (
        skipUserInRoom &&
        change.roomId === skipUserInRoom.roomId &&
        change.userId === skipUserInRoom.userId
      )
        continue;
      broadcaster.member(change);
    }
  };

  const noteMemberStoreFailure = (roomId: string, err: unknown) => {
    dirty.add(roomId);
    // After stop() the last disconnects race the closing Redis connection: their leases expire instead.
    if (!memberStoreDown && refreshTimer !== undefined) {
      memberStoreDown = true;
      log.warn({ err, roomId }, "room membership update failed; will resync when the store is back");
    }
  };

  /** Report the user's local socket count; failures only defer the update to the next refresh. */
  const syncMember = async (roomId: string, userId: string, count: number): Promise<void> => {
    try {
      emitChanges(await members.update(roomId, userId, count));
    } catch (err) {
      noteMemberStoreFailure(roomId, err);
    }
  };

  const refreshRoom = async (roomId: string): Promise<void> => {
    // Taken off first: a failure while this runs marks the room again.
    const full = dirty.delete(roomId);
    try {
      let result = await members.refresh(roomId, full ? local.counts(roomId) : undefined);
      if (!full && result.stale) {
        emitChanges(result);
        result = await members.refresh(roomId, local.counts(roomId));
      }
      emitChanges(result);
      if (memberStoreDown) {
        memberStoreDown = false;
        log.info("room membership store reachable again");
      }
    } catch (err) {
      noteMemberStoreFailure(roomId, err);
    }
  };

  const refreshAll = async (): Promise<void> => {
    if (refreshing) return;
    refreshing = true;
    try {
      const rooms = new Set([...local.rooms(), ...dirty]);
      await Promise.all([...rooms].map(refreshRoom));
    } finally {
      refreshing = false;
    }
  };

  const append = async (
    roomId: string,
    senderId: string,
    senderName: string | undefined,
    text: string,
    clientMsgId: string | undefined,
    limit?: AppendLimit,
  ): Promise<Message> => {
    const { message, duplicate } = await messages.append(
      {
        roomId,
        senderId,
        ...(senderName === undefined ? {} : { senderName }),
        text,
        ...(clientMsgId === undefined ? {} : { clientMsgId }),
        createdAt: deps.now(),
      },
      limit,
    );
    // A retry of a stored message was already delivered: answering it must not deliver it twice.
    if (!duplicate) {
      deps.onStored?.();
      broadcaster.message(message);
    }
    return message;
  };

  const readJoinPage = async (
    roomId: string,
    cursor: string | undefined,
  ): Promise<MessagePage & { recovered?: boolean }> => {
    if (cursor === undefined) return messages.latest(roomId, JOIN_PAGE);
    const page = await messages.since(roomId, cursor, RECOVERY_PAGE);
    if (page.found) return { messages: page.messages, hasMore: page.hasMore, recovered: true };
    // An unknown cursor must never look like "nothing missed": send the latest page and say so.
    return { ...(await messages.latest(roomId, JOIN_PAGE)), recovered: false };
  };

  return {
    async join(conn, user, { roomId, since }) {
      assertRoomAccess(user, roomId);
      const cursor = since === undefined ? undefined : normalizeMessageId(since, "since");
      // The event may be handled after the socket closed (it waited on the rate limiter):
      // joining then would leave a room entry that no disconnect will ever remove.
      if (!conn.connected) throw new AppError("NOT_FOUND", "the connection is closed");
      const rejoin = local.has(roomId, conn.id);
      // In the room before reading history: a message stored meanwhile is delivered live
      // (and may also be in the answer: clients dedupe by id) instead of falling in a gap.
      const subscribed = conn.join(roomId);
      const count = local.add(roomId, user.id, conn.id);
      // With sharded pub/sub, messages published before Redis has this instance's
      // subscription to the room would never arrive: history is read only after it has.
      await subscribed;
      const [page, readState, membership] = await Promise.allSettled([
        readJoinPage(roomId, cursor),
        messages.readState(roomId, user.id),
        rejoin ? members.online(roomId) : members.update(roomId, user.id, count, true),
      ]);
      if (page.status === "rejected" || readState.status === "rejected" || membership.status === "rejected") {
        if (!rejoin) {
          conn.leave(roomId);
          const remaining = local.remove(roomId, user.id, conn.id);
          if (membership.status === "fulfilled") {
            // Announce what others caused (reaped instances), not this join that is being undone.
            emitChanges(membership.value, { roomId, userId: user.id });
            try {
              emitChanges(await members.update(roomId, user.id, remaining), { roomId, userId: user.id });
            } catch (err) {
              noteMemberStoreFailure(roomId, err);
            }
          } else {
            noteMemberStoreFailure(roomId, membership.reason);
          }
        }
        const failed = [page, readState, membership].find((r) => r.status === "rejected");
        throw (failed as PromiseRejectedResult).reason;
      }
      // A socket that went away meanwhile has already been reported gone: announcing its
      // join now would arrive after that leave and leave the user "present" for good.
      emitChanges(membership.value, local.has(roomId, conn.id) ? undefined : { roomId, userId: user.id });
      return {
        roomId,
        messages: page.value.messages,
        hasMore: page.value.hasMore,
        ...(page.value.recovered === undefined ? {} : { recovered: page.value.recovered }),
        online: membership.value.online ?? [],
        lastReadId: readState.value.lastReadId,
        unread: readState.value.unread,
      };
    },

    async leave(conn, user, { roomId }) {
      // Only rooms joined through chat: `user:` and `presence:` rooms are not the client's to leave.
      if (!local.has(roomId, conn.id)) return { roomId };
      conn.leave(roomId);
      await syncMember(roomId, user.id, local.remove(roomId, user.id, conn.id));
      return { roomId };
    },

    async send(conn, user, { roomId, text, clientMsgId }) {
      assertRoomAccess(user, roomId);
      if (!conn.rooms.has(roomId)) throw new AppError("NOT_IN_ROOM");
      const body = checkText(text, deps.maxMessageLength);
      const limit = deps.sendLimit && { limiter: deps.sendLimit, key: user.id };
      return append(roomId, user.id, user.name, body, clientMsgId, limit);
    },

    async history(user, { roomId, before, after, limit }) {
      assertRoomAccess(user, roomId);
      const query = {
        ...(before === undefined ? {} : { before: normalizeMessageId(before, "before") }),
        ...(after === undefined ? {} : { after: normalizeMessageId(after, "after") }),
        limit: limit ?? HISTORY_DEFAULT_LIMIT,
      };
      if (query.before !== undefined && query.after !== undefined) {
        if (compareMessageIds(query.after, query.before) >= 0) return { messages: [], hasMore: false };
      }
      return messages.history(roomId, query);
    },

    typing(conn, user, { roomId, typing }) {
      assertRoomAccess(user, roomId);
      if (!conn.rooms.has(roomId)) throw new AppError("NOT_IN_ROOM");
      broadcaster.typing(roomId, user.id, typing);
      return { roomId };
    },

    async read(user, { roomId, messageId }) {
      assertRoomAccess(user, roomId);
      const result = await messages.markRead(roomId, user.id, normalizeMessageId(messageId));
      if (!result) throw new AppError("NOT_FOUND", "the room has no messages");
      if (result.moved) broadcaster.read(roomId, user.id, result.lastReadId);
      return { roomId, messageId: result.lastReadId };
    },

    async disconnect(conn, user) {
      const rooms = local.roomsOf(conn.id);
      await Promise.all(
        rooms.map((roomId) => syncMember(roomId, user.id, local.remove(roomId, user.id, conn.id))),
      );
    },

    roomsOf(conn) {
      return local.roomsOf(conn.id);
    },

    resyncLocalRooms(since) {
      for (const roomId of local.rooms()) broadcaster.resync(roomId, since);
    },
    localRoomCount() {
      return local.rooms().length;
    },
    async postSystemMessage(roomId, text, senderId = "system") {
      assertRoomId(roomId);
      if (typeof senderId !== "string" || !USER_ID_PATTERN.test(senderId)) {
        throw invalid("senderId", "must be a user id");
      }
      if (typeof text !== "string") throw invalid("text", "must be a string");
      const body = checkText(text, deps.maxMessageLength);
      // The internal API is trusted with any room (DMs too), but never with the server-managed kinds.
      assertNotReserved(roomId);
      return append(roomId, senderId, undefined, body, undefined);
    },

    start() {
      refreshTimer ??= setInterval(() => {
        refreshAll().catch((err: unknown) => log.error({ err }, "membership refresh failed"));
      }, deps.memberRefreshMs);
      refreshTimer.unref();
    },

    stop() {
      clearInterval(refreshTimer);
      refreshTimer = undefined;
    },
  };
}
