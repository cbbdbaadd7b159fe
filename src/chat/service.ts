import type { PendingLimit } from "../infra/rate-limit.js";
import {
  AppError,
  type AuthenticatedUser,
  type ChatChangeResult,
  type ChatDeletePayload,
  type ChatEditPayload,
  type ChatHistoryPayload,
  type ChatHistoryResult,
  type ChatJoinPayload,
  type ChatJoinResult,
  type ChatLeavePayload,
  type ChatReactPayload,
  type ChatReadPayload,
  type ChatSendPayload,
  type ChatTypingPayload,
  type Message,
  USER_ID_PATTERN,
} from "../protocol/index.js";
import type { RoomGate } from "./access.js";
import type { RoomEventPublisher } from "./feed.js";
import type { Membership } from "./membership.js";
import type { MentionNotifier } from "./mentions.js";
import { normalizeMessageId, parseMessageId } from "./message-id.js";
import { checkEmoji, checkMentions, targetOf } from "./message-rules.js";
import type { LogCursor, LogPage, MessageStore, NewChange } from "./message-store.js";
import type { Moderation } from "./moderation.js";
import { assertNotReserved, assertRoomId } from "./policy.js";
import type { RoomRelay } from "./relay.js";
import type { RoomList } from "./room-list.js";

/** Messages in a `chat:join` answer without a cursor, and after a failed recovery. */
export const JOIN_PAGE = 50;
/** Messages a recovering `chat:join` returns at most; beyond them the answer is not live yet. */
export const RECOVERY_PAGE = 200;
export const HISTORY_DEFAULT_LIMIT = 50;
/** Reads a join may make to meet the relay where it stands before it gives up (a room far too busy). */
const SETTLE_READS = 20;

/**
 * What the service needs of a connection: a Socket.IO socket fits as it is, so the
 * hot path allocates nothing to adapt it. `join` makes the connection follow the room's
 * relayed events on this instance (synchronously: the relay never hands on a message
 * between the join's last read and the connection being in), `leave` stops that.
 */
export interface RoomConnection {
  readonly id: string;
  readonly connected: boolean;
  /** Who the connection is now: an `auth:refresh` may change it while an event is handled. */
  readonly data: { readonly user: AuthenticatedUser };
  join(roomId: string): unknown;
  leave(roomId: string): unknown;
}

export interface ChatServiceDeps {
  messages: MessageStore;
  /** Who is in which room: the connections here, and the room-wide members across instances. */
  membership: Membership;
  relay: RoomRelay;
  /** Who may be in which room: the claims, room tokens, the backend's access hook. */
  access: RoomGate;
  /** Typing and read positions to every instance. */
  events: RoomEventPublisher;
  /** MESSAGE_HOOK_URL's hook: every chat:send is reviewed before it is stored. */
  moderation?: Moderation;
  now: () => number;
  maxMessageLength: number;
  /** How long after it was sent a message may be edited; 0: always. */
  editWindowMs: number;
  /** Offline users a stored message mentions get a notification. */
  mentions?: MentionNotifier;
  /** The users' room lists: told of joins, forgets and stored messages. */
  roomList?: Pick<RoomList, "joined" | "forget" | "stored">;
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
  /**
   * `limit`: the sender's rate limit (the route's), consumed by the store with the write,
   * once the room and the text are accepted (system messages are limited by the internal API).
   */
  send(
    conn: RoomConnection,
    user: AuthenticatedUser,
    payload: ChatSendPayload,
    limit?: PendingLimit,
  ): Promise<Message>;
  /** Edit a message: its sender or an admin, within the edit window. `conn`: whose room tokens count. */
  edit(user: AuthenticatedUser, payload: ChatEditPayload, conn?: RoomConnection): Promise<ChatChangeResult>;
  /** Delete a message (a tombstone stays): its sender or an admin. */
  remove(
    user: AuthenticatedUser,
    payload: ChatDeletePayload,
    conn?: RoomConnection,
  ): Promise<ChatChangeResult>;
  /** Add or take back the user's reaction of one kind. */
  react(user: AuthenticatedUser, payload: ChatReactPayload, conn?: RoomConnection): Promise<ChatChangeResult>;
  /** `conn`: whose room tokens count (none: the claims and the access hook only). */
  history(
    user: AuthenticatedUser,
    payload: ChatHistoryPayload,
    conn?: RoomConnection,
  ): Promise<ChatHistoryResult>;
  typing(
    conn: RoomConnection,
    user: AuthenticatedUser,
    payload: ChatTypingPayload,
  ): Promise<{ roomId: string }>;
  read(
    user: AuthenticatedUser,
    payload: ChatReadPayload,
    conn?: RoomConnection,
  ): Promise<{ roomId: string; messageId: string }>;
  /** The connection is going away: it leaves every chat room it joined. */
  disconnect(conn: RoomConnection, user: AuthenticatedUser): Promise<void>;
  /** The chat rooms this connection has joined (here, through `join`). */
  roomsOf(conn: RoomConnection): string[];
  /**
   * Store and broadcast a message on behalf of the system (internal API). Validates
   * like `chat:send`: INVALID_PAYLOAD for a bad room id, sender id or text.
   */
  postSystemMessage(roomId: string, text: string, senderId?: string): Promise<Message>;
  /** A room's log paged by seq, for the backend (internal API): no room check beyond the id's form. */
  roomHistory(
    roomId: string,
    page: { beforeSeq?: number; afterSeq?: number; limit: number },
  ): Promise<{ epoch: string; seq: number; messages: Message[]; hasMore: boolean }>;
  /** The users in the room across instances, each once. */
  roomOnline(roomId: string): Promise<string[]>;
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

/** The join's cursor: a seq with its epoch, or a message id (whose seq and time must match). */
type JoinCursor = LogCursor & { epoch?: string };

function cursorOf(payload: ChatJoinPayload): JoinCursor | undefined {
  if (payload.sinceSeq !== undefined) return { seq: payload.sinceSeq, epoch: payload.epoch };
  if (payload.since === undefined) return undefined;
  const { ms, seq } = parseId(payload.since, "since");
  return { seq, ms };
}

/** A client's message id as numbers (ids past 2^53 cannot be a message of this service). */
function parseId(id: string, field: string): { ms: number; seq: number } {
  const parsed = parseMessageId(normalizeMessageId(id, field));
  const ms = Number(parsed?.ms ?? 0n);
  const seq = Number(parsed?.seq ?? 0n);
  return { ms: Math.min(ms, Number.MAX_SAFE_INTEGER), seq: Math.min(seq, Number.MAX_SAFE_INTEGER) };
}

/** A join answer before the member and read state are added. */
type JoinPage = Pick<ChatJoinResult, "epoch" | "seq" | "live" | "messages" | "hasMore" | "recovered">;

export function createChatService(deps: ChatServiceDeps): ChatService {
  const { messages, membership, relay, events, access } = deps;

  const append = async (
    roomId: string,
    senderId: string,
    senderName: string | undefined,
    text: string,
    clientMsgId: string | undefined,
    limit?: PendingLimit,
    extra: { replyTo?: string; mentions?: string[] } = {},
  ): Promise<Message> => {
    const { message, duplicate } = await messages.append(
      {
        roomId,
        senderId,
        ...(senderName === undefined ? {} : { senderName }),
        text,
        ...(clientMsgId === undefined ? {} : { clientMsgId }),
        createdAt: deps.now(),
        ...(extra.replyTo === undefined ? {} : { replyTo: extra.replyTo }),
        ...(extra.mentions === undefined ? {} : { mentions: extra.mentions }),
      },
      limit,
    );
    // The store published it with the write (a repeat: published again); the relay delivers it.
    if (!duplicate) {
      deps.onStored?.();
      deps.roomList?.stored(roomId);
    }
    // A repeat too: the first attempt's instance may have died before it notified. The
    // notification's idempotency key (the message id) keeps one per message in the inbox.
    deps.mentions?.stored(message);
    return message;
  };

  /** The text to store after the moderation hook; a retry of a stored message is not reviewed again. */
  const moderated = async (
    roomId: string,
    user: AuthenticatedUser,
    text: string,
    clientMsgId: string | undefined,
    editOf?: string,
  ): Promise<string> => {
    if (!deps.moderation) return text;
    if (clientMsgId !== undefined && editOf === undefined) {
      const prior = await messages.stored(roomId, user.id, clientMsgId);
      if (prior) return prior.text;
    }
    return deps.moderation.review({
      roomId,
      userId: user.id,
      ...(user.name === undefined ? {} : { senderName: user.name }),
      text,
      ...(clientMsgId === undefined ? {} : { clientMsgId }),
      ...(editOf === undefined ? {} : { editOf }),
    });
  };

  /** The target of a change, checked: a retained message of the room, and the user's to change. */
  const ownTarget = async (
    conn: RoomConnection | undefined,
    user: AuthenticatedUser,
    roomId: string,
    messageId: string,
    action: string,
  ) => {
    await access.check(conn, user, roomId);
    const target = targetOf(await messages.lookup(roomId, normalizeMessageId(messageId)));
    if (target.senderId !== user.id && !user.roles?.includes("admin")) {
      throw new AppError("FORBIDDEN", `only the sender or an admin may ${action} a message`);
    }
    return target;
  };

  const change = async (
    user: AuthenticatedUser,
    input: Omit<NewChange, "senderId" | "senderName" | "createdAt" | "clientMsgId">,
    clientMsgId: string | undefined,
  ): Promise<ChatChangeResult> => {
    const { entry, message, duplicate } = await messages.change({
      ...input,
      senderId: user.id,
      ...(user.name === undefined ? {} : { senderName: user.name }),
      ...(clientMsgId === undefined ? {} : { clientMsgId }),
      createdAt: deps.now(),
    });
    if (entry && !duplicate) deps.onStored?.();
    return { entry, message };
  };

  const latestPage = async (roomId: string): Promise<LogPage> => messages.latest(roomId, JOIN_PAGE);

  const joinPage = async (roomId: string, cursor: JoinCursor | undefined): Promise<JoinPage> => {
    const asLatest = (page: LogPage, recovered?: boolean): JoinPage => ({
      epoch: page.epoch,
      seq: page.seq,
      live: true,
      messages: page.messages,
      hasMore: page.hasMore,
      ...(recovered === undefined ? {} : { recovered }),
    });
    if (cursor === undefined) return asLatest(await latestPage(roomId));
    const page = await messages.after(roomId, cursor, RECOVERY_PAGE);
    // A position of another epoch, or one no longer retained, must never look like
    // "nothing missed": the latest page, and say so.
    if (!page.found || (cursor.epoch !== undefined && cursor.epoch !== page.epoch)) {
      return asLatest(await latestPage(roomId), false);
    }
    const last = page.messages[page.messages.length - 1]?.seq ?? cursor.seq;
    return {
      epoch: page.epoch,
      seq: page.hasMore ? last : page.seq,
      live: !page.hasMore,
      messages: page.messages,
      hasMore: page.hasMore,
      recovered: true,
    };
  };

  /**
   * Make a live answer end exactly where the relay stands, then let the connection follow
   * the room, in one synchronous step: what the relay handed on before is in the answer,
   * what it hands on after reaches the connection, with no message in both or in neither.
   * False when the relay is in another epoch than the answer (it has not caught up yet).
   */
  const settle = async (roomId: string, page: JoinPage, attach: () => void): Promise<boolean> => {
    for (let reads = 0; reads < SETTLE_READS; reads++) {
      const at = relay.position(roomId);
      if (!at || at.epoch !== page.epoch) return false;
      if (page.seq >= at.seq) {
        // The relay has not handed these on yet: they reach the connection live.
        page.messages = page.messages.filter((m) => m.seq <= at.seq);
        page.seq = at.seq;
        attach();
        return true;
      }
      const more = await messages.history(roomId, { afterSeq: page.seq, limit: RECOVERY_PAGE });
      if (more.epoch !== page.epoch) return false;
      const fresh = more.messages.filter((m) => m.seq > page.seq);
      if (fresh.length === 0) {
        // The log lost what the relay handed on (a failover): the connection sees the jump.
        attach();
        return true;
      }
      page.messages.push(...fresh);
      page.seq = (fresh[fresh.length - 1] as Message).seq;
    }
    throw new AppError("UNAVAILABLE", "the room is too busy to join right now, retry");
  };

  /** Read the join's page and, when it is live, attach the connection where the relay stands. */
  const readAndAttach = async (
    conn: RoomConnection,
    roomId: string,
    cursor: JoinCursor | undefined,
  ): Promise<JoinPage> => {
    for (let attempt = 0; ; attempt++) {
      const page = await joinPage(roomId, cursor);
      if (!page.live) {
        conn.leave(roomId);
        return page;
      }
      if (await settle(roomId, page, () => conn.join(roomId))) return page;
      if (attempt >= 2) throw new AppError("UNAVAILABLE", "the room's log changed during the join, retry");
      await relay.sync(roomId);
    }
  };

  /**
   * The latest join attempt of each connection and room. An attempt still running when the
   * ack deadline answered it UNAVAILABLE may fail after the client's retry succeeded: its
   * failure must not take the connection out of the room the newer attempt attached it to.
   */
  const latestJoin = new Map<string, number>();
  let joinAttempts = 0;

  const leaveRoom = async (conn: RoomConnection, userId: string, roomId: string): Promise<void> => {
    access.forget(conn.id, roomId);
    // Only rooms joined through chat: `user:` and `presence:` rooms are not the client's to leave.
    if (!membership.has(roomId, conn.id)) return;
    conn.leave(roomId);
    await membership.leave(roomId, userId, conn.id);
  };

  const joinOnce = async (
    conn: RoomConnection,
    user: AuthenticatedUser,
    payload: ChatJoinPayload,
    superseded: () => boolean,
  ): Promise<ChatJoinResult> => {
    const { roomId } = payload;
    await access.admit(conn, user, roomId, payload.token);
    const cursor = cursorOf(payload);
    // The event may be handled after the socket closed (it waited on the rate limiter):
    // joining then would leave a room entry that no disconnect will ever remove.
    if (!conn.connected) throw new AppError("NOT_FOUND", "the connection is closed");
    const entry = membership.enter(roomId, user.id, conn.id);
    // The relay subscribes to the room before the log is read: nothing stored after the
    // read can be missed.
    const [watched, readState, online] = await Promise.allSettled([
      relay.watch(roomId),
      messages.readState(roomId, user.id),
      entry.online,
    ]);
    let page: JoinPage | undefined;
    let failure: unknown;
    if (watched.status === "rejected") failure = watched.reason;
    else if (readState.status === "rejected") failure = readState.reason;
    else if (online.status === "rejected") failure = online.reason;
    else {
      try {
        page = await readAndAttach(conn, roomId, cursor);
      } catch (err) {
        failure = err;
      }
    }
    if (!page || readState.status === "rejected" || online.status === "rejected") {
      if (!entry.rejoin && !superseded()) {
        conn.leave(roomId);
        await entry.cancel();
      }
      throw failure;
    }
    entry.commit();
    await deps.roomList?.joined(user.id, roomId);
    // An auth:refresh that narrowed the connection's rooms may have completed while this join
    // was in flight (its leave of the rooms no longer granted ran before this one was joined).
    const current = conn.data.user;
    if (current !== user && !(await access.stillGranted(conn, current, roomId))) {
      await leaveRoom(conn, current.id, roomId);
      throw new AppError("FORBIDDEN", "the refreshed token does not grant this room");
    }
    return {
      roomId,
      ...page,
      online: online.value,
      lastReadId: readState.value.lastReadId,
      unread: readState.value.unread,
      mentions: readState.value.mentions,
    };
  };

  return {
    async join(conn, user, payload) {
      const key = `${conn.id}\n${payload.roomId}`;
      const attempt = ++joinAttempts;
      latestJoin.set(key, attempt);
      try {
        return await joinOnce(conn, user, payload, () => latestJoin.get(key) !== attempt);
      } finally {
        if (latestJoin.get(key) === attempt) latestJoin.delete(key);
      }
    },

    async leave(conn, user, { roomId, forget }) {
      await leaveRoom(conn, user.id, roomId);
      if (forget) await deps.roomList?.forget(user.id, roomId);
      return { roomId };
    },

    async send(conn, user, { roomId, text, clientMsgId, replyTo, mentions }, limit) {
      await access.check(conn, user, roomId);
      if (!membership.has(roomId, conn.id)) throw new AppError("NOT_IN_ROOM");
      const body = await moderated(roomId, user, checkText(text, deps.maxMessageLength), clientMsgId);
      const mentioned = checkMentions(body, mentions);
      let answered: string | undefined;
      if (replyTo !== undefined) {
        answered = targetOf(await messages.lookup(roomId, normalizeMessageId(replyTo, "replyTo"))).id;
      }
      return append(roomId, user.id, user.name, body, clientMsgId, limit, {
        ...(answered === undefined ? {} : { replyTo: answered }),
        ...(mentioned === undefined ? {} : { mentions: mentioned }),
      });
    },

    async edit(user, { roomId, messageId, text, clientMsgId }, conn) {
      const body = checkText(text, deps.maxMessageLength);
      const target = await ownTarget(conn, user, roomId, messageId, "edit");
      if (deps.editWindowMs > 0 && deps.now() - target.createdAt > deps.editWindowMs) {
        throw new AppError(
          "FORBIDDEN",
          `a message can be edited for ${deps.editWindowMs / 1000} s after it was sent`,
        );
      }
      // An edit is new text too: the moderation hook reviews it as it does a send.
      const reviewed = await moderated(roomId, user, body, clientMsgId, target.id);
      return change(user, { roomId, kind: "edit", target: target.id, text: reviewed }, clientMsgId);
    },

    async remove(user, { roomId, messageId, clientMsgId }, conn) {
      const target = await ownTarget(conn, user, roomId, messageId, "delete");
      return change(user, { roomId, kind: "delete", target: target.id, text: "" }, clientMsgId);
    },

    async react(user, { roomId, messageId, emoji, on, clientMsgId }, conn) {
      await access.check(conn, user, roomId);
      const checked = checkEmoji(emoji);
      const target = targetOf(await messages.lookup(roomId, normalizeMessageId(messageId)));
      return change(
        user,
        { roomId, kind: "reaction", target: target.id, text: "", emoji: checked, on },
        clientMsgId,
      );
    },

    async history(user, { roomId, before, after, limit }, conn) {
      await access.check(conn, user, roomId);
      const page = await messages.history(roomId, {
        ...(before === undefined ? {} : { beforeSeq: parseId(before, "before").seq }),
        ...(after === undefined ? {} : { afterSeq: parseId(after, "after").seq }),
        limit: limit ?? HISTORY_DEFAULT_LIMIT,
      });
      return { epoch: page.epoch, messages: page.messages, hasMore: page.hasMore };
    },

    async typing(conn, user, { roomId, typing }) {
      await access.check(conn, user, roomId);
      if (!membership.has(roomId, conn.id)) throw new AppError("NOT_IN_ROOM");
      events.publish({ kind: "typing", roomId, userId: user.id, typing });
      return { roomId };
    },

    async read(user, { roomId, messageId }, conn) {
      await access.check(conn, user, roomId);
      const result = await messages.markRead(roomId, user.id, normalizeMessageId(messageId));
      if (!result) throw new AppError("NOT_FOUND", "the room has no messages");
      if (result.moved)
        events.publish({ kind: "read", roomId, userId: user.id, messageId: result.lastReadId });
      return { roomId, messageId: result.lastReadId };
    },

    disconnect(conn, user) {
      access.forget(conn.id);
      return membership.disconnect(user.id, conn.id);
    },

    roomsOf(conn) {
      return membership.roomsOf(conn.id);
    },

    async roomHistory(roomId, page) {
      const { epoch, seq, messages: list, hasMore } = await messages.history(roomId, page);
      return { epoch, seq, messages: list, hasMore };
    },

    roomOnline: (roomId) => membership.online(roomId),

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
  };
}
