import type { ErrorBody } from "./errors.js";

/** Every acknowledged event answers with this envelope. */
export type AckResponse<T> = { ok: true; data: T } | { ok: false; error: ErrorBody };
export type Ack<T> = (response: AckResponse<T>) => void;

export interface AuthenticatedUser {
  id: string;
  name?: string;
  roles?: string[];
  rooms?: string[];
}

/** What a log entry other than a message does to the message it targets. */
export type ChangeKind = "edit" | "delete" | "reaction";

/** A reaction of a message as read from the log: every user's emoji counted once. */
export interface ReactionCount {
  emoji: string;
  count: number;
  /** Who reacted, oldest first: the first REACTION_USERS_LISTED of them. */
  users: string[];
}

/**
 * An entry of a room's log: a message, or (with `kind`) a change to an earlier message of
 * the room. Every entry has its own seq, so relay, recovery and history carry changes in
 * order with the messages.
 */
export interface Message {
  /** `<ms>-<seq>`: unique, and ordered like `seq` within an epoch. */
  id: string;
  roomId: string;
  /** Position in the room's log: 1, 2, 3, … without holes, within one epoch. */
  seq: number;
  /** The room's log generation: a new one (seq restarting at 1) means Redis lost the room's state. */
  epoch: string;
  senderId: string;
  senderName?: string;
  text: string;
  clientMsgId?: string;
  createdAt: number;
  /** Absent: a message. Otherwise a change to the message `target`. */
  kind?: ChangeKind;
  /** A change: the id of the message it changes. */
  target?: string;
  /** A reaction: the emoji, and whether it was added (true) or taken back (false). */
  emoji?: string;
  on?: boolean;
  /** A message: the id of the message of the same room it answers. */
  replyTo?: string;
  /** A message: the user ids it mentions (each written `@<id>` in the text). */
  mentions?: string[];
  /**
   * The state of a message as read from the log (history, join and recovery pages; never
   * on a live entry): its latest edit's time, a deletion (the text is then ""), its
   * reactions, and `rev`, the seq of the last change folded in. A client applies a
   * change entry to the message only when the entry's seq is above `rev`.
   */
  editedAt?: number;
  deleted?: true;
  reactions?: ReactionCount[];
  rev?: number;
}

/** The answer to chat:edit, chat:delete and chat:react. */
export interface ChatChangeResult {
  /** The change entry appended to the log, or null when the message already was in that state. */
  entry: Message | null;
  /** The target as it stands after the change (its state as history shows it). */
  message: Message;
}

export interface ChatJoinResult {
  roomId: string;
  epoch: string;
  /** The last seq the answer covers: live `chat:message`s continue right after it. */
  seq: number;
  /**
   * true: this socket now receives every later message of the room, contiguous and in order.
   * false (a recovery longer than one page): join again from the last message's seq.
   */
  live: boolean;
  messages: Message[];
  /** Without a cursor: older messages exist. With one: newer ones remain (then `live` is false). */
  hasMore: boolean;
  /** Present when a cursor was given: false means it was not in the retained history of this epoch. */
  recovered?: boolean;
  online: string[];
  lastReadId: string | null;
  unread: number;
  /** Of the unread messages, those whose `mentions` name the user. */
  mentions: number;
}

/** A room of the user's room list, as `chat:rooms` answers it. */
export interface RoomListEntry {
  roomId: string;
  epoch: string;
  /** The room log's last seq. */
  seq: number;
  /** When the room's last entry (a message or a change) was appended, epoch ms; 0: none yet. */
  lastActivityAt: number;
  /** The newest message, as history shows it (null: none in the newest 200 entries). */
  lastMessage: Message | null;
  lastReadId: string | null;
  /** As in the join answer: messages after `lastReadId` sent by others. */
  unread: number;
  /** Of those, the ones that mention the user. */
  mentions: number;
}

export interface ChatRoomsResult {
  rooms: RoomListEntry[];
  /** Give it back as `cursor` for the next page; null: this was the last one. */
  cursor: string | null;
}

/**
 * `chat:room`: new activity in a room of the user's list that this socket has not joined.
 * No content: it goes to everyone whose list holds the room, without a check of their
 * current access; `chat:rooms` (which checks it) gives the last message and unread count.
 */
export interface ChatRoomActivity {
  roomId: string;
  epoch: string;
  seq: number;
  lastActivityAt: number;
}

export interface ChatHistoryResult {
  epoch: string;
  messages: Message[];
  hasMore: boolean;
}

export type PresenceStatus = "online" | "away" | "busy" | "offline";
/** What a user may set; `offline` is only ever derived from their connections. */
export type SettableStatus = Exclude<PresenceStatus, "offline">;

export interface PresenceState {
  userId: string;
  status: PresenceStatus;
  text?: string;
  lastSeen: number;
  devices: number;
}

export interface Notification {
  id: string;
  type: string;
  title: string;
  body?: string;
  data?: Record<string, unknown>;
  createdAt: number;
  readAt: number | null;
}

export interface NotificationListResult {
  items: Notification[];
  unreadCount: number;
  hasMore: boolean;
}

export interface ServerToClientEvents {
  "server:error": (payload: { event: string; code: ErrorBody["code"]; message: string }) => void;
  "server:shutdown": (payload: { reconnect: boolean }) => void;
  "auth:expired": (payload: { exp: number }) => void;

  "chat:message": (message: Message) => void;
  "chat:typing": (payload: { roomId: string; userId: string; typing: boolean }) => void;
  "chat:read": (payload: { roomId: string; userId: string; messageId: string }) => void;
  "chat:member": (payload: { roomId: string; userId: string; event: "join" | "leave" }) => void;
  /**
   * This socket is no longer in the room: its room token expired (`expired`), or the
   * backend's access hook refused it on a re-check (`denied`). Join again to come back.
   */
  "chat:left": (payload: { roomId: string; reason: "expired" | "denied" }) => void;
  "chat:room": (payload: ChatRoomActivity) => void;

  "presence:changed": (state: PresenceState) => void;

  "notification:new": (notification: Notification) => void;
  "notification:unread": (payload: { count: number }) => void;
}

// biome-ignore lint/suspicious/noEmptyInterface: the adapter's serverSideEmit is not used yet; the map keeps Server<> fully typed.
export interface InterServerEvents {}

export interface SocketData {
  user: AuthenticatedUser;
  /** Epoch seconds at which the current token expires. */
  tokenExp: number;
  /** Epoch seconds at which the current token was issued (what a revocation compares). */
  tokenIssuedAt: number;
}

export type ServerEventName = keyof ServerToClientEvents;
/** What the server sends with the event. */
export type ServerEventPayload<E extends ServerEventName> = Parameters<ServerToClientEvents[E]>[0];

/** Rooms the server manages itself; clients cannot join them via chat:join. */
export const userRoom = (userId: string): string => `user:${userId}`;
export const presenceRoom = (userId: string): string => `presence:${userId}`;
/**
 * The rooms whose broadcasts cross instances through the Socket.IO adapter (user and
 * presence rooms). A chat room is relayed by every instance from its own feed instead.
 */
export const isAdapterRoom = (room: string): boolean =>
  room.startsWith("user:") || room.startsWith("presence:");
