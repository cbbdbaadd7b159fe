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
