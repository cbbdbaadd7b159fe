import type { Redis } from "ioredis";
import { io as ioClient } from "socket.io-client";
import type { App } from "../../src/app.js";
import { request, type TestSocket } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * Connection churn and the state it must not leave behind, shared by the churn test
 * (small, in-process instances) and `npm run soak` (long, built instances).
 */

export interface ChurnSessionOptions {
  url: string;
  userId: string;
  roomId: string;
  /** Users whose presence the session subscribes to. */
  watch: string[];
  transport: "websocket" | "polling";
  /** A unique id for the message the session sends. */
  clientMsgId: string;
}

/** Not `connectClient`: its registry of sockets to close would grow for the whole soak. */
function open(url: string, token: string, transport: "websocket" | "polling"): Promise<TestSocket> {
  const socket: TestSocket = ioClient(url, {
    transports: [transport],
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    auth: { token },
  });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.disconnect();
      reject(err);
    });
  });
}

/**
 * One short visit: connect, join a room, subscribe to presence, send, type, list
 * notifications, leave. Resolves with "<event> <code>" for anything refused.
 */
export async function churnSession(options: ChurnSessionOptions): Promise<string[]> {
  const token = await tokenFor(options.userId, { rooms: ["team:*"] });
  const socket = await open(options.url, token, options.transport);
  const refused: string[] = [];
  const note = (event: string, res: { ok: boolean; error?: { code: string } }) => {
    if (!res.ok) refused.push(`${event} ${res.error?.code}`);
  };
  try {
    note("chat:join", await request(socket, "chat:join", { roomId: options.roomId }));
    note("presence:subscribe", await request(socket, "presence:subscribe", { userIds: options.watch }));
    note(
      "chat:send",
      await request(socket, "chat:send", {
        roomId: options.roomId,
        text: "churn",
        clientMsgId: options.clientMsgId,
      }),
    );
    note("chat:typing", await request(socket, "chat:typing", { roomId: options.roomId, typing: true }));
    note("notification:list", await request(socket, "notification:list", {}));
  } finally {
    socket.disconnect();
  }
  return refused;
}

/** Per-instance socket bookkeeping that must shrink back when connections go. */
export function instanceSnapshot(app: App): Record<string, number> {
  const ns = app.io.of("/");
  return {
    sockets: ns.sockets.size,
    engineClients: app.io.engine.clientsCount,
    adapterRooms: ns.adapter.rooms.size,
    adapterSids: ns.adapter.sids.size,
  };
}

export interface RedisCensus {
  /** Per-user rate-limiter counters, each alive for its window (1 s, 10 s for bursts). */
  rateLimitKeys: number;
  /** Per-address handshake counters (60 s windows): one per client address, not per connection. */
  addressLimitKeys: number;
  /** Connection entries in presence (`presence:{u}:conns` fields). */
  presenceConnections: number;
  /** Connection entries indexed per instance registration. */
  presenceInstanceEntries: number;
  /** Users in their offline grace. */
  presencePending: number;
  /** `presence:{u}:state`: one per user ever seen, kept 30 days after they go offline (by design). */
  presenceStates: number;
  /** `(user, instance)` entries of chat room membership. */
  chatMembers: number;
  /** Chat history streams and idempotency keys: they grow with messages, by design. */
  chatStreams: number;
  chatIdempotencyKeys: number;
  notificationKeys: number;
  totalKeys: number;
}

/** Every key under `prefix`, counted by kind (SCAN, then one pipelined size per key). */
export async function redisCensus(redis: Redis, prefix: string): Promise<RedisCensus> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");

  const census: RedisCensus = {
    rateLimitKeys: 0,
    addressLimitKeys: 0,
    presenceConnections: 0,
    presenceInstanceEntries: 0,
    presencePending: 0,
    presenceStates: 0,
    chatMembers: 0,
    chatStreams: 0,
    chatIdempotencyKeys: 0,
    notificationKeys: 0,
    totalKeys: keys.length,
  };
  const sized: [keyof RedisCensus, "hlen" | "scard" | "zcard", string][] = [];
  for (const key of keys) {
    const name = key.slice(prefix.length);
    if (name.startsWith("rl:connect-ip/")) census.addressLimitKeys += 1;
    else if (name.startsWith("rl:")) census.rateLimitKeys += 1;
    else if (name.startsWith("presence:instance:")) sized.push(["presenceInstanceEntries", "scard", key]);
    else if (/^presence:\{.*\}:conns$/.test(name)) sized.push(["presenceConnections", "hlen", key]);
    else if (/^presence:\{.*\}:state$/.test(name)) census.presenceStates += 1;
    else if (name === "{presence}:pending") sized.push(["presencePending", "zcard", key]);
    else if (/^chat:\{.*\}:members$/.test(name)) sized.push(["chatMembers", "hlen", key]);
    else if (/^chat:\{.*\}:messages$/.test(name)) census.chatStreams += 1;
    else if (/^chat:\{.*\}:idem:/.test(name)) census.chatIdempotencyKeys += 1;
    else if (name.startsWith("notif:")) census.notificationKeys += 1;
  }
  if (sized.length > 0) {
    const pipeline = redis.pipeline();
    for (const [, command, key] of sized) pipeline[command](key);
    const results = (await pipeline.exec()) ?? [];
    sized.forEach(([field], i) => {
      const value = results[i]?.[1];
      census[field] += typeof value === "number" ? value : 0;
    });
  }
  return census;
}

/** What must come back to its starting value once churn stops (the rest grows by design). */
export const RETURNING: (keyof RedisCensus)[] = [
  "rateLimitKeys",
  "presenceConnections",
  "presenceInstanceEntries",
  "presencePending",
  "chatMembers",
];
