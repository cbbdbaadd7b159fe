import type { ManagerOptions, SocketOptions } from "socket.io-client";
import type { RealtimeError } from "./errors.js";
import type {
  AckData,
  EventPayload,
  Message,
  Notification,
  PresenceState,
  ServerEventPayload,
  SettableStatus,
} from "./protocol.js";
import type { RoomToken } from "./room-sync.js";

/**
 * The SDK's public surface: what `connect()` takes and returns, and the events it emits.
 * What a request sends and resolves with is the event's own, from the wire contract.
 */

export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "closed";

export interface StatusEvent {
  status: ConnectionStatus;
  /** Failed connection attempts since the connection was last up (0 when connected). */
  attempt: number;
  /** Why the connection is not up, when known (a refused handshake, a lost transport). */
  error?: RealtimeError;
}

export interface RejoinEvent {
  roomId: string;
  /**
   * true: every message since the last one this client saw has been delivered (as `message`
   * events), nothing is missing. false: a `gap` event came first (the history was trimmed
   * past the client's position, or lost with a new epoch): show `messages` as the room's
   * latest page and page back with `chat.history` if needed.
   */
  recovered: boolean;
  /**
   * recovered: the messages missed while disconnected; otherwise the newest page (without
   * messages the client already holds, in the same epoch). Oldest first.
   */
  messages: Message[];
  online: string[];
  lastReadId: string | null;
  unread: number;
  /** Of the unread messages, those that mention the user. */
  mentions: number;
}

/** Messages of a room the client will never be given: reported, never skipped silently. */
export interface GapEvent {
  roomId: string;
  /** The room's epoch from now on. */
  epoch: string;
  /**
   * "epoch": Redis lost the room's history (a new epoch restarts `seq` at 1): everything of
   * the old epoch after the client's position is gone. "trimmed": messages after the
   * client's position are no longer in the retained history.
   */
  reason: "epoch" | "trimmed";
  /** "trimmed": the first `seq` the client did not receive. */
  fromSeq?: number;
}

/** Everything a client can subscribe to with `client.on(event, listener)`. */
export interface RealtimeEvents {
  status: (event: StatusEvent) => void;
  /**
   * A chat message of a joined room: each once, in `seq` order per room, whatever path it
   * came by (live, a join answer, a send's ack).
   */
  message: (message: Message) => void;
  /** Another user's typing indicator; `typing: true` ends by itself after `typingTimeoutMs`. */
  typing: (event: ServerEventPayload<"chat:typing">) => void;
  read: (event: ServerEventPayload<"chat:read">) => void;
  member: (event: ServerEventPayload<"chat:member">) => void;
  /**
   * The server took this client out of a room (its room token expired, or the backend's
   * access hook refused it): the client stops keeping the room; join it again to come back.
   */
  left: (event: ServerEventPayload<"chat:left">) => void;
  /**
   * A room was joined again after a reconnect (or, with `recovered: false`, after a hole in
   * live delivery that could not be filled).
   */
  rejoin: (event: RejoinEvent) => void;
  /** Messages the client will never be given (see GapEvent); a `rejoin` with the newest page follows. */
  gap: (event: GapEvent) => void;
  /**
   * A message of a joined room changed (an edit, a delete or a reaction was applied to the
   * room's model): the message as it now stands. The change entry itself came as `message`.
   */
  changed: (message: Message) => void;
  /** New activity in a room of the user's room list that this client has not joined. */
  room: (event: ServerEventPayload<"chat:room">) => void;
  presence: (state: PresenceState) => void;
  /** A new notification, once per id (a publisher's retry may send it again). */
  notification: (notification: Notification) => void;
  unread: (event: ServerEventPayload<"notification:unread">) => void;
  /** Failures nobody awaits: `server:error`, a failed rejoin, refresh or getToken. */
  error: (error: RealtimeError) => void;
}

export interface ConnectOptions {
  /** The service's origin, e.g. `https://rt.example.com`. */
  url: string;
  /**
   * Returns a valid token (JWT). Called before the first connection, again before the
   * token expires (then sent with `auth:refresh`), and after the server refused or expired
   * it. Rejecting counts as a failed authentication.
   */
  getToken: () => string | Promise<string>;
  /** How long a request waits for its answer (or for a connection). @default 10000 */
  ackTimeoutMs?: number;
  /**
   * How long one connection attempt may take before it is given up and retried with the
   * backoff. Longer than a request's: under a reconnect storm an attempt waits in the
   * server's queue, and one given up early leaves its place taken and comes back. @default 20000
   */
  connectTimeoutMs?: number;
  /** How long `chat.send` and `chat.join` keep retrying across reconnects. @default 30000 */
  sendTimeoutMs?: number;
  /** Refresh the token this long before it expires (at half its lifetime if that is sooner). @default 60000 */
  refreshMarginMs?: number;
  /** Other users' `typing: true` ends after this without news. @default 6000 */
  typingTimeoutMs?: number;
  /** Reconnection backoff, doubled per attempt with jitter. @default 500 and 5000 */
  reconnectDelayMs?: number;
  reconnectDelayMaxMs?: number;
  /** Refused handshakes in a row (bad token even after getToken) before the client gives up. @default 3 */
  maxAuthFailures?: number;
  /**
   * Websocket only by default: it needs no sticky sessions behind a load balancer. Add
   * "polling" for networks that block websockets (and make sessions sticky).
   * @default ["websocket"]
   */
  transports?: ("websocket" | "polling" | "webtransport")[];
  /** Passed to socket.io-client as they are (path, extraHeaders in Node...). */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

export type { RoomToken, SettableStatus };

export interface JoinOptions {
  /**
   * A room token from the application's backend, for a room the connection's token does not
   * grant (or a function returning a fresh one): sent with this join and every rejoin. The
   * server takes the socket out of the room at the token's `exp` (a `left` event); join again
   * with a later token before then to stay.
   */
  token?: RoomToken;
}

export interface ChatApi {
  /**
   * Join a room: resolves with its newest page (oldest first), unread count and who is
   * online. The client rejoins it by itself after every reconnect, from the last message it saw.
   */
  join(roomId: string, options?: JoinOptions): Promise<AckData<"chat:join">>;
  leave(roomId: string): Promise<void>;
  /**
   * Resolves with the stored message once the server acknowledged it. Unacknowledged sends
   * are retried (after a reconnect, a lost answer, UNAVAILABLE or RATE_LIMITED) with the
   * same `clientMsgId` until `sendTimeoutMs`: the server stores each message once.
   */
  send(
    roomId: string,
    text: string,
    options?: Pick<EventPayload<"chat:send">, "clientMsgId" | "replyTo" | "mentions">,
  ): Promise<AckData<"chat:send">>;
  /** Edit one of your messages (or any, as an admin) within the server's edit window. */
  edit(roomId: string, messageId: string, text: string): Promise<AckData<"chat:edit">>;
  /** Delete one of your messages (or any, as an admin): a tombstone stays. */
  delete(roomId: string, messageId: string): Promise<AckData<"chat:delete">>;
  /** Add (`on`: true) or take back your reaction of one kind. */
  react(roomId: string, messageId: string, emoji: string, on: boolean): Promise<AckData<"chat:react">>;
  /** The rooms the user has joined (on any device), newest activity first, with unread counts. */
  roomList(options?: EventPayload<"chat:rooms">): Promise<AckData<"chat:rooms">>;
  /** Leave a room and drop it from the user's room list. */
  forget(roomId: string): Promise<void>;
  /**
   * A joined room's messages as they stand (edits, deletes and reactions applied), oldest
   * first: the last 500 this client was handed.
   */
  messages(roomId: string): Message[];
  history(
    roomId: string,
    options?: Omit<EventPayload<"chat:history">, "roomId">,
  ): Promise<AckData<"chat:history">>;
  typing(roomId: string, typing: boolean): Promise<void>;
  read(roomId: string, messageId: string): Promise<AckData<"chat:read">>;
  /** The rooms this client keeps joined. */
  readonly rooms: string[];
}

export interface PresenceApi {
  /** Kept and set again after every reconnect. */
  set(status: SettableStatus, text?: string): Promise<AckData<"presence:set">>;
  /** Current states now, `presence` events on every change; renewed after every reconnect. */
  subscribe(userIds: string[]): Promise<AckData<"presence:subscribe">>;
  unsubscribe(userIds: string[]): Promise<void>;
  query(userIds: string[]): Promise<AckData<"presence:query">>;
}

export interface NotificationsApi {
  list(options?: EventPayload<"notification:list">): Promise<AckData<"notification:list">>;
  read(target: string[] | "all"): Promise<AckData<"notification:read">>;
}

export interface RealtimeClient {
  readonly status: ConnectionStatus;
  /** The token's `sub`, once a token has been fetched. */
  readonly userId: string | undefined;
  readonly chat: ChatApi;
  readonly presence: PresenceApi;
  readonly notifications: NotificationsApi;
  /** Subscribe; returns the unsubscribe function. */
  on<E extends keyof RealtimeEvents>(event: E, listener: RealtimeEvents[E]): () => void;
  off<E extends keyof RealtimeEvents>(event: E, listener: RealtimeEvents[E]): void;
  /** Disconnect for good: pending requests and sends reject with DISCONNECTED. */
  close(): void;
}
