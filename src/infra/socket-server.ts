import type { Server as HttpServer, IncomingMessage } from "node:http";
import type { Server as HttpsServer } from "node:https";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { type Namespace, Server } from "socket.io";
import { Adapter, type BroadcastOptions, MessageType } from "socket.io-adapter";
import type {
  ClientToServerEvents,
  InterServerEvents,
  ServerToClientEvents,
  SocketData,
} from "../protocol/index.js";
import type { RedisConnections } from "./redis.js";

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

interface ClusterPublisher {
  publishAndReturnOffset(message: { type: MessageType; data: unknown }): Promise<string>;
}

/**
 * The sharded adapter (a ClusterAdapter) delivers a broadcast to this instance's own
 * sockets only after Redis has accepted the publish: one more round trip on every
 * message, and, while Redis is down, local delivery frozen behind the publish queue.
 * This wrapper delivers locally at once and publishes without waiting, as the classic
 * adapter does. (The offset it skips only serves Socket.IO's connection state recovery,
 * which this service does not use: recovery is by message id.)
 */
export function deliverLocallyFirst(
  make: AdapterFactory,
  onPublishError: (err: Error) => void,
): AdapterFactory {
  // Socket.IO calls the factory with `new`: it must be a function, not an arrow.
  return function localFirstAdapter(nsp: Namespace) {
    const adapter = make(nsp);
    const publish = (adapter as unknown as ClusterPublisher).publishAndReturnOffset.bind(adapter);
    adapter.broadcast = (packet: unknown, opts: BroadcastOptions) => {
      if (!opts.flags?.local) {
        publish({
          type: MessageType.BROADCAST,
          data: {
            packet,
            opts: { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags },
          },
        }).catch(onPublishError);
      }
      Adapter.prototype.broadcast.call(adapter, packet, opts);
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
  onPublishError: (err: Error) => void,
) {
  const channel = `${keyPrefix}socket.io`;
  io.adapter(
    kind === "sharded"
      ? deliverLocallyFirst(
          createShardedAdapter(redis.pub, redis.sub, { channelPrefix: channel, subscriptionMode: "dynamic" }),
          onPublishError,
        )
      : createAdapter(redis.pub, redis.sub, { key: channel, requestsTimeout: 3000 }),
  );
}
