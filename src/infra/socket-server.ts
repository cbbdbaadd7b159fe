import type { Server as HttpServer, IncomingMessage } from "node:http";
import type { Server as HttpsServer } from "node:https";
import { createAdapter } from "@socket.io/redis-adapter";
import { Server } from "socket.io";
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
  redis?: RedisConnections;
  keyPrefix: string;
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
  if (options.redis) {
    io.adapter(
      createAdapter(options.redis.pub, options.redis.sub, {
        key: `${options.keyPrefix}socket.io`,
        requestsTimeout: 3000,
      }),
    );
  }
  return io;
}
