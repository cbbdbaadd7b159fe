import { io, type Socket } from "socket.io-client";
import { ConnectionState } from "./connection-state.js";
import { Emitter } from "./emitter.js";
import { type ClientErrorCode, isTokenError, RealtimeError, toRealtimeError } from "./errors.js";
import { createClientMsgId } from "./ids.js";
import { PresenceSync } from "./presence-sync.js";
import type { ClientToServerEvents, ServerToClientEvents } from "./protocol.js";
import { RecentIds } from "./recent-ids.js";
import { Requests, type RequestTransport } from "./requests.js";
import { RoomModel } from "./room-model.js";
import { RoomSync } from "./room-sync.js";
import { SendPump } from "./send-pump.js";
import { TokenSession } from "./token-session.js";
import type { ChatApi, ConnectOptions, NotificationsApi, RealtimeClient, RealtimeEvents } from "./types.js";
import { TypingExpiry } from "./typing.js";

/**
 * The options' defaults. `connectTimeoutMs` is socket.io-client's `timeout` (its default
 * too); the reconnect delays are those of `backoffDelayMs`.
 */
export const CLIENT_DEFAULTS = {
  ackTimeoutMs: 10_000,
  connectTimeoutMs: 20_000,
  sendTimeoutMs: 30_000,
  refreshMarginMs: 60_000,
  typingTimeoutMs: 6_000,
  reconnectDelayMs: 500,
  reconnectDelayMaxMs: 5_000,
  maxAuthFailures: 3,
} as const;

/** Spread the reconnects of a draining instance's clients over this window. */
const SHUTDOWN_JITTER_MS = 1000;

/**
 * Connect to the service. The client connects at once and stays connected (reconnecting,
 * refreshing its token, rejoining rooms) until `close()`.
 */
export function connect(options: ConnectOptions): RealtimeClient {
  const o = { ...CLIENT_DEFAULTS, ...options };
  const now = () => Date.now();
  const events = new Emitter<RealtimeEvents>();
  const reportError = (err: RealtimeError) => events.emit("error", err);
  /** Incremented on every connect: async work begun on an older connection stops. */
  let connection = 0;

  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(options.url, {
    transports: o.transports ?? ["websocket"],
    // Each client owns its connection: reconnect logic below must not act on a shared one.
    forceNew: true,
    autoConnect: false,
    // Every reconnect is scheduled by ConnectionState, with one backoff: socket.io-client's
    // caps its delay after the jitter, so clients that keep failing all retry at exactly
    // the cap, in waves.
    reconnection: false,
    timeout: o.connectTimeoutMs,
    ...o.socketOptions,
    // Called for every handshake, reconnections included: always the current token.
    auth: (cb: (data: object) => void) => {
      void session.forHandshake().then((token) => cb(token === undefined ? {} : { token }));
    },
  });
  const isConnected = () => socket.connected;

  const state = new ConnectionState({
    socket,
    reconnectDelayMs: o.reconnectDelayMs,
    reconnectDelayMaxMs: o.reconnectDelayMaxMs,
    onStatus: (event) => events.emit("status", event),
  });
  const requests = new Requests({
    transport: socket as unknown as RequestTransport,
    timeoutMs: o.ackTimeoutMs,
  });
  const { request } = requests;
  const session = new TokenSession({
    getToken: options.getToken,
    refreshMarginMs: o.refreshMarginMs,
    maxAuthFailures: o.maxAuthFailures,
    request,
    isConnected,
    now,
    onError: reportError,
  });
  const sends = new SendPump({
    request,
    isConnected,
    now,
    timeoutMs: o.sendTimeoutMs,
    isReady: (roomId) => rooms.isReady(roomId),
    onStored: (message) => rooms.stored(message),
  });
  const model = new RoomModel(() => session.userId);
  const rooms = new RoomSync({
    request,
    isConnected,
    connection: () => connection,
    joinTimeoutMs: o.sendTimeoutMs,
    deliver: (message) => {
      const applied = model.apply(message);
      events.emit("message", message);
      if (applied && message.kind !== undefined) events.emit("changed", applied);
    },
    onAnswer: (_roomId, page) => {
      for (const message of page) model.apply(message);
    },
    onRejoin: (event) => events.emit("rejoin", event),
    onGap: (event) => {
      // What the model holds is no longer the log: the newest page that follows rebuilds it.
      model.reset(event.roomId);
      events.emit("gap", event);
    },
    onError: reportError,
    onReady: (roomId) => void sends.pump(roomId),
    onRefused: (roomId, error) => sends.rejectRoom(roomId, error),
  });
  const presence = new PresenceSync({
    request,
    isConnected,
    onPresence: (presenceState) => events.emit("presence", presenceState),
    onError: reportError,
  });
  const typing = new TypingExpiry(o.typingTimeoutMs, (event) => events.emit("typing", event));
  const notificationIds = new RecentIds();

  /** After every (re)connect: what the server forgot with the old socket. */
  async function restore(my: number): Promise<void> {
    presence.restore();
    await rooms.rejoinAll(my);
    // Sends to rooms this client does not track (their answer says why).
    for (const roomId of sends.rooms()) if (!rooms.has(roomId)) void sends.pump(roomId);
  }

  function shutdown(reason?: RealtimeError): void {
    if (state.isClosed) return;
    state.stop();
    session.stop();
    const error = reason ?? new RealtimeError("DISCONNECTED", "the client was closed");
    requests.close(error);
    sends.close(error);
    rooms.close(error);
    typing.clear();
    socket.disconnect();
    state.announceClosed(reason);
  }

  socket.on("connect", () => {
    connection += 1;
    state.up();
    requests.connected();
    session.connected();
    void restore(connection);
  });

  socket.on("disconnect", (reason) => {
    const error = new RealtimeError("DISCONNECTED", `connection lost (${reason})`);
    requests.disconnected(error);
    sends.disconnected();
    typing.clear();
    if (state.isClosed) return;
    state.down(error);
    // Expired token, a revoked user, an operator: come back with a token fetched anew.
    if (reason === "io server disconnect") session.invalidate();
    // A lost transport (the instance died, the network went away) or a closed socket.
    if (reason !== "io client disconnect") state.reconnectLater();
  });

  socket.on("connect_error", (err: Error) => {
    if (state.isClosed) return;
    state.attemptFailed();
    // A refusal by the server's middleware carries the catalogue code in `data`.
    const data = (err as Error & { data?: { code?: string; retryAfterMs?: unknown } }).data;
    const code = data?.code;
    const retryAfterMs = typeof data?.retryAfterMs === "number" ? data.retryAfterMs : undefined;
    const error = code
      ? new RealtimeError(code as ClientErrorCode, `connection refused: ${code}`, { retryAfterMs })
      : new RealtimeError("DISCONNECTED", `cannot connect: ${err.message}`);
    if (isTokenError(code) && session.refused()) {
      reportError(error);
      shutdown(error);
      return;
    }
    // UNAVAILABLE (a saturated instance) and RATE_LIMITED carry a hint: wait it, plus jitter.
    if (retryAfterMs !== undefined) state.reconnectAfterHint(retryAfterMs);
    else state.reconnectLater();
    state.stillTrying(error);
  });

  socket.on("server:shutdown", ({ reconnect }) => {
    if (!reconnect || state.isClosed) return;
    // Leave the draining instance now (the load balancer sends the new connection to
    // another one) instead of being cut at the end of its grace period.
    socket.disconnect();
    state.reconnectLater(Math.round(Math.random() * SHUTDOWN_JITTER_MS));
  });

  socket.on("auth:expired", () => session.invalidate());
  socket.on("server:error", (payload) =>
    reportError(new RealtimeError(payload.code, `${payload.event}: ${payload.message}`)),
  );
  socket.on("chat:message", (message) => {
    typing.stopped(message.roomId, message.senderId);
    rooms.live(message);
  });
  socket.on("chat:typing", ({ roomId, userId: who, typing: isTyping }) => {
    if (rooms.has(roomId)) typing.update(roomId, who, isTyping);
  });
  socket.on("chat:read", (event) => events.emit("read", event));
  socket.on("chat:member", (event) => events.emit("member", event));
  socket.on("chat:room", (event) => events.emit("room", event));
  socket.on("chat:left", (event) => {
    // The server no longer has this socket in the room: rejoining it by itself would be refused.
    const error = new RealtimeError("FORBIDDEN", `no longer in ${event.roomId} (${event.reason})`);
    rooms.forget(event.roomId, error);
    sends.rejectRoom(event.roomId, error);
    typing.clear(event.roomId);
    model.reset(event.roomId);
    events.emit("left", event);
  });
  socket.on("presence:changed", (presenceState) => events.emit("presence", presenceState));
  socket.on("notification:new", (notification) => {
    if (notificationIds.add(notification.id)) events.emit("notification", notification);
  });
  socket.on("notification:unread", (event) => events.emit("unread", event));

  async function leave(roomId: string, forget: boolean): Promise<void> {
    const error = new RealtimeError("NOT_IN_ROOM", `left ${roomId}`);
    rooms.forget(roomId, error);
    sends.rejectRoom(roomId, error);
    typing.clear(roomId);
    model.reset(roomId);
    if (!socket.connected && !forget) return;
    try {
      await request("chat:leave", forget ? { roomId, forget } : { roomId });
    } catch (err) {
      // The server forgets a dropped socket's rooms by itself (not the room list).
      if (forget || toRealtimeError(err).code !== "DISCONNECTED") throw err;
    }
  }

  const chat: ChatApi = {
    join: (roomId, joinOptions = {}) => rooms.join(roomId, joinOptions.token),
    leave: (roomId) => leave(roomId, false),
    forget: (roomId) => leave(roomId, true),
    send: (roomId, text, { clientMsgId, ...extra } = {}) => sends.send(roomId, text, clientMsgId, extra),
    // A clientMsgId per call: a request the transport repeats is applied once.
    edit: (roomId, messageId, text) =>
      request("chat:edit", { roomId, messageId, text, clientMsgId: createClientMsgId() }),
    delete: (roomId, messageId) =>
      request("chat:delete", { roomId, messageId, clientMsgId: createClientMsgId() }),
    react: (roomId, messageId, emoji, on) =>
      request("chat:react", { roomId, messageId, emoji, on, clientMsgId: createClientMsgId() }),
    roomList: (listOptions = {}) => request("chat:rooms", listOptions),
    messages: (roomId) => model.messages(roomId),
    history: (roomId, historyOptions = {}) => request("chat:history", { roomId, ...historyOptions }),
    async typing(roomId, isTyping) {
      await request("chat:typing", { roomId, typing: isTyping });
    },
    read: (roomId, messageId) => request("chat:read", { roomId, messageId }),
    get rooms() {
      return rooms.list();
    },
  };

  const notifications: NotificationsApi = {
    list: (listOptions = {}) => request("notification:list", listOptions),
    read: (target) => request("notification:read", target === "all" ? { all: true } : { ids: target }),
  };

  socket.connect();

  return {
    get status() {
      return state.status;
    },
    get userId() {
      return session.userId;
    },
    chat,
    presence: presence.api,
    notifications,
    on: (event, listener) => events.on(event, listener),
    off: (event, listener) => events.off(event, listener),
    close: () => shutdown(),
  };
}
