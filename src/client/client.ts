import { io, type Socket } from "socket.io-client";
import type {
  ChatJoinResult,
  ClientToServerEvents,
  Message,
  PresenceState,
  ServerToClientEvents,
} from "../protocol/events.js";
import { Emitter } from "./emitter.js";
import { type ClientErrorCode, isRetryable, isTokenError, RealtimeError, toRealtimeError } from "./errors.js";
import { MessageTracker, sortUniqueById } from "./message-tracker.js";
import { Requests, type RequestTransport } from "./requests.js";
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

interface RoomState {
  /** Joined at least once: the next join recovers from the cursor. */
  everJoined: boolean;
  /** The connection on which the room is joined (-1: not on this one). */
  joinedEpoch: number;
  joining: boolean;
  waiters: { resolve(result: ChatJoinResult): void; reject(err: RealtimeError): void }[];
  retry: ReturnType<typeof setTimeout> | undefined;
}

const MAX_RECOVERY_PAGES = 20;
const HISTORY_PAGE_SIZE = 100;
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
  const tracker = new MessageTracker();
  const typing = new TypingExpiry(o.typingTimeoutMs, (event) => events.emit("typing", event));
  const rooms = new Map<string, RoomState>();
  const presenceSubscriptions = new Set<string>();
  let presenceStatus: { status: SettableStatus; text?: string } | undefined;

  let status: ConnectionStatus = "connecting";
  let attempt = 0;
  let everConnected = false;
  let closed = false;
  /** Incremented on every connect: async work begun on an older connection stops. */
  let epoch = 0;
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
    // Being (re)joined: the join pumps when it is done.
    isReady: (roomId) => {
      const room = rooms.get(roomId);
      return !room || room.joinedEpoch === epoch;
    },
    onStored: (message) => onLiveMessage(message),
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

  // --- chat: rooms ---------------------------------------------------------------------------
  const deliver = (messages: readonly Message[]) => {
    for (const message of messages) events.emit("message", message);
  };

  const onLiveMessage = (message: Message) => {
    // In flight after a leave, or a room this client never asked for.
    if (!rooms.has(message.roomId)) return;
    if (tracker.receive(message) === "new") deliver([message]);
  };

  /**
   * Join `roomId` on connection `my`. `recover`: a rejoin after a reconnect, from the last
   * message seen (`since`), paging through everything missed; otherwise the newest page.
   */
  async function joinRoom(roomId: string, my: number, recover: boolean): Promise<void> {
    const room = rooms.get(roomId);
    if (!room || room.joining || epoch !== my || !socket.connected) return;
    room.joining = true;
    clearTimeout(room.retry);
    room.retry = undefined;
    const since = recover ? tracker.cursor(roomId) : undefined;
    // Live messages of the room arrive as soon as the server has joined the socket, maybe
    // before the answer: hold them and merge them with it, in order.
    tracker.hold(roomId);
    try {
      const result = await request("chat:join", since ? { roomId, since } : { roomId });
      let fetched = [...result.messages];
      let recovered: boolean;
      if (since !== undefined) {
        recovered = result.recovered !== false;
        let hasMore = result.hasMore;
        for (let page = 0; recovered && hasMore && page < MAX_RECOVERY_PAGES; page++) {
          const last = fetched[fetched.length - 1];
          if (!last) break;
          const next = await request("chat:history", { roomId, after: last.id, limit: HISTORY_PAGE_SIZE });
          fetched.push(...next.messages);
          hasMore = next.hasMore;
        }
        if (recovered && hasMore) {
          // Too much to catch up: start over from the newest page, and say so.
          recovered = false;
          fetched = (await request("chat:history", { roomId })).messages;
        }
      } else {
        recovered = !(recover && result.hasMore);
      }
      room.joining = false;
      if (rooms.get(roomId) !== room) {
        tracker.release(roomId);
        return;
      }
      room.joinedEpoch = my;
      const wasJoined = room.everJoined;
      room.everJoined = true;
      const held = tracker.release(roomId);
      const page = sortUniqueById([...fetched, ...held]);
      const fresh = tracker.acceptAll(page);
      const answer: ChatJoinResult = { ...result, messages: page };
      for (const waiter of room.waiters.splice(0)) waiter.resolve(answer);
      if (recover && wasJoined) {
        deliver(fresh);
        events.emit("rejoin", {
          roomId,
          recovered,
          messages: recovered ? fresh : page,
          online: result.online,
          lastReadId: result.lastReadId,
          unread: result.unread,
        });
      }
      void sends.pump(roomId);
    } catch (err) {
      room.joining = false;
      const error = toRealtimeError(err);
      const held = tracker.release(roomId);
      if (room.everJoined) deliver(tracker.acceptAll(held));
      if (rooms.get(roomId) !== room || closed) return;
      // Dropped connection: the next connect joins again.
      if (error.code === "DISCONNECTED") return;
      if (isRetryable(error)) {
        const delay = error.retryAfterMs ?? backoffDelayMs(1, { minMs: 1000, maxMs: 5000 });
        room.retry = setTimeout(() => void joinRoom(roomId, my, recover), delay);
        return;
      }
      // Refused for good (e.g. FORBIDDEN after a token change): forget the room.
      rooms.delete(roomId);
      tracker.forget(roomId);
      sends.rejectRoom(roomId, error);
      for (const waiter of room.waiters.splice(0)) waiter.reject(error);
      if (room.everJoined) reportError(error);
    }
  }

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
    // One room at a time: a client in many rooms must not trip the join rate limit.
    for (const [roomId, room] of [...rooms]) {
      if (epoch !== my) return;
      // The application may have joined it on this connection already.
      if (room.joinedEpoch !== my) await joinRoom(roomId, my, room.everJoined);
    }
    // Sends to rooms this client does not track (their answer says why).
    for (const roomId of sends.rooms()) if (!rooms.has(roomId)) void sends.pump(roomId);
  }

  async function catchUp(roomId: string, after: string, my: number): Promise<void> {
    let cursor = after;
    try {
      for (let page = 0; page < MAX_RECOVERY_PAGES; page++) {
        if (epoch !== my || !rooms.has(roomId)) return;
        const next = await request("chat:history", { roomId, after: cursor, limit: HISTORY_PAGE_SIZE });
        deliver(tracker.acceptAll(next.messages));
        const last = next.messages[next.messages.length - 1];
        if (!next.hasMore || !last) return;
        cursor = last.id;
      }
      // More than the client pages through: start over from the newest page, as a rejoin would.
      await joinRoom(roomId, my, true);
    } catch (err) {
      const error = toRealtimeError(err);
      // A dropped connection rejoins with `since` on the next connect anyway.
      if (error.code !== "DISCONNECTED") reportError(error);
    }
  }

  socket.on("connect", () => {
    epoch += 1;
    everConnected = true;
    attempt = 0;
    manualAttempts = 0;
    clearTimeout(reconnectTimer);
    reconnectTimer = undefined;
    setStatus("connected");
    requests.connected();
    session.connected();
    void restore(epoch);
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

  // The server's instance lost its link to the others for a moment: messages stored after
  // `since` may never have arrived live. Page through them; the tracker drops what we have.
  socket.on("chat:resync", ({ roomId, since }) => {
    if (rooms.get(roomId)?.joinedEpoch === epoch) void catchUp(roomId, since, epoch);
  });

  socket.on("auth:expired", () => session.invalidate());
  socket.on("server:error", (payload) =>
    reportError(new RealtimeError(payload.code, `${payload.event}: ${payload.message}`)),
  );

  socket.on("chat:message", (message) => {
    typing.stopped(message.roomId, message.senderId);
    onLiveMessage(message);
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
    for (const room of rooms.values()) {
      clearTimeout(room.retry);
      for (const waiter of room.waiters.splice(0)) waiter.reject(error);
    }
    rooms.clear();
    typing.clear();
    socket.disconnect();
    setStatus("closed", reason);
  }

  // --- public API --------------------------------------------------------------------------
  const chat: ChatApi = {
    join(roomId) {
      return new Promise((resolve, reject) => {
        if (closed) {
          reject(new RealtimeError("DISCONNECTED", "the client is closed"));
          return;
        }
        let room = rooms.get(roomId);
        if (!room) {
          room = { everJoined: false, joinedEpoch: -1, joining: false, waiters: [], retry: undefined };
          rooms.set(roomId, room);
        }
        const current = room;
        const waiter = {
          resolve: (result: ChatJoinResult) => {
            clearTimeout(timer);
            resolve(result);
          },
          reject: (err: RealtimeError) => {
            clearTimeout(timer);
            reject(err);
          },
        };
        const timer = setTimeout(() => {
          current.waiters = current.waiters.filter((w) => w !== waiter);
          // Never joined and nobody waits any more: stop trying.
          if (!current.everJoined && current.waiters.length === 0 && rooms.get(roomId) === current) {
            clearTimeout(current.retry);
            rooms.delete(roomId);
          }
          reject(new RealtimeError("TIMEOUT", `could not join ${roomId} within ${o.sendTimeoutMs} ms`));
        }, o.sendTimeoutMs);
        current.waiters.push(waiter);
        if (socket.connected && !current.joining) {
          // Asked explicitly: the newest page, even when already joined on this connection.
          current.joinedEpoch = -1;
          void joinRoom(roomId, epoch, false);
        }
      });
    },

    async leave(roomId) {
      const room = rooms.get(roomId);
      rooms.delete(roomId);
      const error = new RealtimeError("NOT_IN_ROOM", `left ${roomId}`);
      if (room) {
        clearTimeout(room.retry);
        for (const waiter of room.waiters.splice(0)) waiter.reject(error);
      }
      sends.rejectRoom(roomId, error);
      tracker.forget(roomId);
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
      if (rooms.has(roomId)) {
        tracker.observe(
          roomId,
          result.messages.map((m) => m.id),
        );
      }
      return result;
    },

    async typing(roomId, isTyping) {
      await request("chat:typing", { roomId, typing: isTyping });
    },

    read(roomId, messageId) {
      return request("chat:read", { roomId, messageId });
    },

    get rooms() {
      return [...rooms.keys()];
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
