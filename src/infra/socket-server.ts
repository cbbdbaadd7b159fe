import type { Server as HttpServer, IncomingMessage } from "node:http";
import type { Server as HttpsServer } from "node:https";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { type Namespace, Server } from "socket.io";
import { Adapter, type BroadcastOptions, MessageType } from "socket.io-adapter";
import {
  type ClientToServerEvents,
  type InterServerEvents,
  isAdapterRoom,
  type ServerToClientEvents,
  type SocketData,
} from "../protocol/index.js";
import type { RedisConnections } from "./redis.js";
import { coalesceWebsocketWrites } from "./write-coalescing.js";

export type AppServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface SocketServerOptions {
  maxHttpBufferSize: number;
  isOriginAllowed: (origin: string | undefined) => boolean;
  /** Refuse new connections while this returns a reason (draining). */
  refuseReason: () => string | undefined;
}

export function createSocketServer(
  httpServer: HttpServer | HttpsServer,
  options: SocketServerOptions,
): AppServer {
  const io: AppServer = new Server(httpServer, {
    path: "/socket.io",
    transports: ["polling", "websocket"],
    maxHttpBufferSize: options.maxHttpBufferSize,
    pingInterval: 25_000,
    pingTimeout: 20_000,
    connectTimeout: 10_000,
    serveClient: false,
    cors: {
      origin: (origin, callback) => callback(null, options.isOriginAllowed(origin)),
      credentials: true,
    },
    allowRequest: (_req, callback) => {
      const refused = options.refuseReason();
      if (refused) return callback(refused, false);
      callback(null, true);
    },
  });
  // Engine.IO middlewares run for every request, polling requests of an existing session
  // and websocket upgrades included; `allowRequest` and the `cors` option only see the
  // handshake. This is what stops cross-site WebSocket hijacking.
  io.engine.use((req: IncomingMessage, _res: unknown, next: (err?: Error) => void) => {
    if (options.isOriginAllowed(req.headers.origin)) next();
    else next(new Error("origin not allowed"));
  });
  coalesceWebsocketWrites(io.engine);
  return io;
}

export type AdapterKind = "classic" | "sharded";

/**
 * The adapter for a configured choice: `auto` asks the server for its version, since
 * sharded pub/sub (SSUBSCRIBE) needs Redis >= 7. Every instance of one deployment must
 * end with the same kind; set REDIS_ADAPTER explicitly where that cannot be guaranteed.
 */
export async function resolveAdapterKind(
  choice: "auto" | AdapterKind,
  redis: RedisConnections,
): Promise<{ kind: AdapterKind; serverVersion?: string }> {
  if (choice !== "auto") return { kind: choice };
  const info = String(await redis.command.info("server"));
  const serverVersion = /redis_version:(\S+)/.exec(info)?.[1];
  const major = Number(serverVersion?.split(".")[0] ?? 0);
  return { kind: major >= 7 ? "sharded" : "classic", serverVersion };
}

type AdapterFactory = (nsp: Namespace) => Adapter;

interface ShardedInternals {
  publishAndReturnOffset(message: { type: MessageType; data: unknown }): Promise<string>;
  shouldUseASeparateNamespace(room: string): boolean;
  dynamicChannel(room: string): string;
}

/**
 * Three changes to the sharded adapter (a ClusterAdapter):
 *
 * - Only the rooms whose broadcasts cross instances through the adapter (`isAdapterRoom`)
 *   get a channel subscription: chat rooms are relayed from their own feed.
 *
 * - It delivers a broadcast to this instance's own sockets only after Redis has accepted
 *   the publish: one more round trip on every message, and, while Redis is down, local
 *   delivery frozen behind the publish queue. Here local delivery happens at once and the
 *   publish is not awaited, as with the classic adapter. (The offset it skips only serves
 *   Socket.IO's connection state recovery, which this service does not use.)
 * - It subscribes to a room's channel when the room first appears here, without waiting:
 *   a message published before Redis has the subscription never arrives, so a chat join
 *   that reads history in that window would leave a silent gap. Here `socket.join()`
 *   returns a promise that settles once Redis has confirmed the subscription: SSUBSCRIBE
 *   again on the same connection, whose reply comes after the adapter's own.
 */
export function withShardedOrdering(
  make: AdapterFactory,
  sub: RedisConnections["sub"],
  onError: (err: Error, what: string) => void,
  subscribeTimeoutMs = 2000,
): AdapterFactory {
  // Socket.IO calls the factory with `new`: it must be a function, not an arrow.
  return function shardedWithOrdering(nsp: Namespace) {
    const adapter = make(nsp);
    const internals = adapter as unknown as ShardedInternals;
    const publish = internals.publishAndReturnOffset.bind(adapter);
    const separate = internals.shouldUseASeparateNamespace.bind(adapter);
    internals.shouldUseASeparateNamespace = (room) => isAdapterRoom(room) && separate(room);
    adapter.broadcast = (packet: unknown, opts: BroadcastOptions) => {
      if (!opts.flags?.local) {
        publish({
          type: MessageType.BROADCAST,
          data: {
            packet,
            opts: { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags },
          },
        }).catch((err: Error) => onError(err, "publish"));
      }
      Adapter.prototype.broadcast.call(adapter, packet, opts);
    };

    const pending = new Map<string, Promise<void>>();
    const confirm = (room: string): Promise<void> => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        // During an outage the subscription waits for Redis; the join must not.
        timer = setTimeout(resolve, subscribeTimeoutMs);
      });
      const confirmed = (sub.ssubscribe(internals.dynamicChannel(room)) as Promise<unknown>).then(
        () => undefined,
        (err: Error) => onError(err, "subscribe"),
      );
      const done = Promise.race([confirmed, timeout]).finally(() => {
        clearTimeout(timer);
        pending.delete(room);
      });
      pending.set(room, done);
      return done;
    };
    const addAll = adapter.addAll.bind(adapter);
    adapter.addAll = (id, rooms) => {
      const fresh = [...rooms].filter(
        (room) => !adapter.rooms.has(room) && internals.shouldUseASeparateNamespace(room),
      );
      addAll(id, rooms);
      const waits = [...rooms].flatMap((room) => {
        const wait = fresh.includes(room) ? confirm(room) : pending.get(room);
        return wait ? [wait] : [];
      });
      return waits.length > 0 ? Promise.all(waits).then(() => undefined) : undefined;
    };
    return adapter;
  };
}

/** Attach the Redis adapter; must run before the first connection is accepted. */
export function attachRedisAdapter(
  io: AppServer,
  redis: RedisConnections,
  kind: AdapterKind,
  keyPrefix: string,
  onError: (err: Error, what: string) => void,
) {
  const channel = `${keyPrefix}socket.io`;
  io.adapter(
    kind === "sharded"
      ? withShardedOrdering(
          createShardedAdapter(redis.pub, redis.sub, { channelPrefix: channel, subscriptionMode: "dynamic" }),
          redis.sub,
          onError,
        )
      : createAdapter(redis.pub, redis.sub, { key: channel, requestsTimeout: 3000 }),
  );
}
