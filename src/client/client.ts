import { io, type Socket } from "socket.io-client";
import type { ClientToServerEvents, PresenceState, ServerToClientEvents } from "../protocol/events.js";
import { Emitter } from "./emitter.js";
import { type ClientErrorCode, isRetryable, isTokenError, RealtimeError, toRealtimeError } from "./errors.js";
import { Requests, type RequestTransport } from "./requests.js";
import { RoomSync } from "./room-sync.js";
import { SendPump } from "./send-pump.js";
import { backoffDelayMs } from "./token.js";
import { TokenSession } from "./token-session.js";
import type {
  ChatApi,
  ConnectionStatus,
  ConnectOptions,
  NotificationsApi,
  PresenceApi,
  RealtimeClient,
  RealtimeEvents,
  SettableStatus,
} from "./types.js";
import { TypingExpiry } from "./typing.js";

const PRESENCE_CHUNK = 500;
/** Spread the reconnects of a draining instance's clients over this window. */
const SHUTDOWN_JITTER_MS = 1000;

/**
 * Connect to the service. The client connects at once and stays connected (reconnecting,
 * refreshing its token, rejoining rooms) until `close()`.
 */
export function connect(options: ConnectOptions): RealtimeClient {
  const o = {
    ackTimeoutMs: 10_000,
    sendTimeoutMs: 30_000,
    refreshMarginMs: 60_000,
    typingTimeoutMs: 6_000,
    reconnectDelayMs: 500,
    reconnectDelayMaxMs: 5_000,
    maxAuthFailures: 3,
    ...options,
  };
  const now = () => Date.now();
  const events = new Emitter<RealtimeEvents>();
  const typing = new TypingExpiry(o.typingTimeoutMs, (event) => events.emit("typing", event));
  const presenceSubscriptions = new Set<string>();
  let presenceStatus: { status: SettableStatus; text?: string } | undefined;

  let status: ConnectionStatus = "connecting";
  let attempt = 0;
  let everConnected = false;
  let closed = false;
  /** Incremented on every connect: async work begun on an older connection stops. */
  let connection = 0;
  let manualAttempts = 0;

  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;

  const setStatus = (next: ConnectionStatus, error?: RealtimeError) => {
    status = next;
    events.emit("status", error ? { status, attempt, error } : { status, attempt });
  };
  const reportError = (err: RealtimeError) => events.emit("error", err);

  // --- socket ------------------------------------------------------------------------------
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(options.url, {
    transports: o.transports ?? ["websocket"],
    // Each client owns its connection: reconnect logic below must not act on a shared one.
    forceNew: true,
    autoConnect: false,
    reconnectionDelay: o.reconnectDelayMs,
    reconnectionDelayMax: o.reconnectDelayMaxMs,
    randomizationFactor: 0.5,
    timeout: o.ackTimeoutMs,
    ...o.socketOptions,
    // Called for every handshake, reconnections included: always the current token.
    auth: (cb: (data: object) => void) => {
      void session.forHandshake().then((token) => cb(token === undefined ? {} : { token }));
    },
  });

  const requests = new Requests({
    transport: socket as unknown as RequestTransport,
    timeoutMs: o.ackTimeoutMs,
  });
  const request = requests.request;
  const sends = new SendPump({
    request,
    isConnected: () => socket.connected,
    now,
    timeoutMs: o.sendTimeoutMs,
    isReady: (roomId) => rooms.isReady(roomId),
    onStored: (message) => rooms.live(message),
  });
  const rooms = new RoomSync({
    request,
    isConnected: () => socket.connected,
    connection: () => connection,
    joinTimeoutMs: o.sendTimeoutMs,
    deliver: (message) => events.emit("message", message),
    onRejoin: (event) => events.emit("rejoin", event),
    onError: reportError,
    onReady: (roomId) => void sends.pump(roomId),
    onRefused: (roomId, error) => sends.rejectRoom(roomId, error),
  });
  const session = new TokenSession({
    getToken: options.getToken,
    refreshMarginMs: o.refreshMarginMs,
    maxAuthFailures: o.maxAuthFailures,
    request,
    isConnected: () => socket.connected,
    now,
    onError: reportError,
  });

  /** Connect again later (socket.io-client only retries lost transports by itself). */
  const scheduleReconnect = (delayMs?: number) => {
    if (closed || reconnectTimer !== undefined) return;
    manualAttempts += 1;
    const delay =
      delayMs ?? backoffDelayMs(manualAttempts, { minMs: o.reconnectDelayMs, maxMs: o.reconnectDelayMaxMs });
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      if (!closed && !socket.connected) socket.connect();
    }, delay);
  };

  // --- connection lifecycle ----------------------------------------------------------------
  /** After every (re)connect: what the server forgot with the old socket. */
  async function restore(my: number): Promise<void> {
    if (presenceSubscriptions.size > 0) {
      const ids = [...presenceSubscriptions];
      for (let i = 0; i < ids.length; i += PRESENCE_CHUNK) {
        request("presence:subscribe", { userIds: ids.slice(i, i + PRESENCE_CHUNK) }).then(
          (states) => {
            for (const state of states) events.emit("presence", state);
          },
          (err: unknown) => {
            if (toRealtimeError(err).code !== "DISCONNECTED") reportError(toRealtimeError(err));
          },
        );
      }
    }
    if (presenceStatus) {
      request("presence:set", presenceStatus).then(
        (state) => events.emit("presence", state),
        (err: unknown) => {
          if (toRealtimeError(err).code !== "DISCONNECTED") reportError(toRealtimeError(err));
        },
      );
    }
    await rooms.rejoinAll(my);
    // Sends to rooms this client does not track (their answer says why).
    for (const roomId of sends.rooms()) if (!rooms.has(roomId)) void sends.pump(roomId);
  }

  socket.on("connect", () => {
    connection += 1;
    everConnected = true;
    attempt = 0;
    manualAttempts = 0;
    clearTimeout(reconnectTimer);
    reconnectTimer = undefined;
    setStatus("connected");
    requests.connected();
    session.connected();
    void restore(connection);
  });

  socket.on("disconnect", (reason) => {
    const error = new RealtimeError("DISCONNECTED", `connection lost (${reason})`);
    requests.disconnected(error);
    sends.disconnected();
    typing.clear();
    if (closed) return;
    setStatus("reconnecting", error);
    if (reason === "io server disconnect") {
      // Expired token, a revoked user, an operator: come back with a token fetched anew.
      session.invalidate();
      scheduleReconnect();
    }
  });

  socket.on("connect_error", (err: Error) => {
    if (closed) return;
    attempt += 1;
    // A refusal by the server's middleware carries the catalogue code in `data`.
    const code = (err as Error & { data?: { code?: string } }).data?.code;
    const error = code
      ? new RealtimeError(code as ClientErrorCode, `connection refused: ${code}`)
      : new RealtimeError("DISCONNECTED", `cannot connect: ${err.message}`);
    if (!socket.active) {
      // Refused by the server's middleware: socket.io-client does not retry those.
      if (isTokenError(code) && session.refused()) {
        reportError(error);
        shutdownClient(error);
        return;
      }
      scheduleReconnect(error.retryAfterMs);
    }
    setStatus(everConnected ? "reconnecting" : "connecting", error);
  });

  socket.on("server:shutdown", ({ reconnect }) => {
    if (!reconnect || closed) return;
    // Leave the draining instance now (the load balancer sends the new connection to
    // another one) instead of being cut at the end of its grace period.
    socket.disconnect();
    scheduleReconnect(Math.round(Math.random() * SHUTDOWN_JITTER_MS));
  });

  socket.on("chat:resync", ({ roomId, since }) => rooms.resync(roomId, since));

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
  socket.on("presence:changed", (state) => events.emit("presence", state));
  socket.on("notification:new", (notification) => events.emit("notification", notification));
  socket.on("notification:unread", (event) => events.emit("unread", event));

  function shutdownClient(reason?: RealtimeError): void {
    if (closed) return;
    closed = true;
    session.stop();
    clearTimeout(reconnectTimer);
    const error = reason ?? new RealtimeError("DISCONNECTED", "the client was closed");
    requests.close(error);
    sends.close(error);
    rooms.close(error);
    typing.clear();
    socket.disconnect();
    setStatus("closed", reason);
  }

  // --- public API --------------------------------------------------------------------------
  const chat: ChatApi = {
    join: (roomId) => rooms.join(roomId),

    async leave(roomId) {
      const error = new RealtimeError("NOT_IN_ROOM", `left ${roomId}`);
      rooms.forget(roomId, error);
      sends.rejectRoom(roomId, error);
      typing.clear(roomId);
      if (!socket.connected) return;
      try {
        await request("chat:leave", { roomId });
      } catch (err) {
        // The server forgets a dropped socket's rooms by itself.
        if (toRealtimeError(err).code !== "DISCONNECTED") throw err;
      }
    },

    send(roomId, text, sendOptions = {}) {
      return sends.send(roomId, text, sendOptions.clientMsgId);
    },

    async history(roomId, historyOptions = {}) {
      const result = await request("chat:history", { roomId, ...historyOptions });
      rooms.observe(roomId, result);
      return result;
    },

    async typing(roomId, isTyping) {
      await request("chat:typing", { roomId, typing: isTyping });
    },

    read(roomId, messageId) {
      return request("chat:read", { roomId, messageId });
    },

    get rooms() {
      return rooms.list();
    },
  };

  const presence: PresenceApi = {
    set(next, text) {
      presenceStatus = text === undefined ? { status: next } : { status: next, text };
      return request("presence:set", presenceStatus);
    },
    async subscribe(userIds) {
      const added = userIds.filter((id) => !presenceSubscriptions.has(id));
      for (const id of userIds) presenceSubscriptions.add(id);
      try {
        const states: PresenceState[] = [];
        for (let i = 0; i < userIds.length; i += PRESENCE_CHUNK) {
          states.push(
            ...(await request("presence:subscribe", { userIds: userIds.slice(i, i + PRESENCE_CHUNK) })),
          );
        }
        return states;
      } catch (err) {
        if (!isRetryable(err)) for (const id of added) presenceSubscriptions.delete(id);
        throw err;
      }
    },
    async unsubscribe(userIds) {
      for (const id of userIds) presenceSubscriptions.delete(id);
      if (!socket.connected || userIds.length === 0) return;
      for (let i = 0; i < userIds.length; i += PRESENCE_CHUNK) {
        await request("presence:unsubscribe", { userIds: userIds.slice(i, i + PRESENCE_CHUNK) });
      }
    },
    query(userIds) {
      return request("presence:query", { userIds });
    },
  };

  const notifications: NotificationsApi = {
    list(listOptions = {}) {
      return request("notification:list", listOptions);
    },
    read(target) {
      return request("notification:read", target === "all" ? { all: true } : { ids: target });
    },
  };

  socket.connect();

  return {
    get status() {
      return status;
    },
    get userId() {
      return session.userId;
    },
    chat,
    presence,
    notifications,
    on: (event, listener) => events.on(event, listener),
    off: (event, listener) => events.off(event, listener),
    close: () => shutdownClient(),
  };
}
