import type { Server as HttpServer, IncomingMessage } from "node:http";
import type { Server as HttpsServer } from "node:https";
import helmet from "helmet";
import { Server } from "socket.io";
import type {
  ClientToServerEvents,
  InterServerEvents,
  ServerToClientEvents,
  SocketData,
} from "../protocol/index.js";
import type { OriginCheck, OriginRefusal } from "./origin.js";
import { coalesceWebsocketWrites } from "./write-coalescing.js";

export type AppServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface SocketServerOptions {
  maxHttpBufferSize: number;
  isOriginAllowed: OriginCheck;
  /** Told of every request refused for its Origin. */
  onOriginRefused?: OriginRefusal;
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
    // The delegate form: the check needs the request's Host (same-origin pages are allowed).
    cors: (req, callback) =>
      callback(null, {
        origin: options.isOriginAllowed(req.headers.origin, req.headers.host),
        credentials: true,
      }),
    allowRequest: (_req, callback) => {
      const refused = options.refuseReason();
      if (refused) return callback(refused, false);
      callback(null, true);
    },
  });
  // Engine.IO middlewares run for every request, polling requests of an existing session
  // and websocket upgrades included; `allowRequest` and the `cors` option only see the
  // handshake. Helmet first, so that refusals carry its headers too.
  io.engine.use(helmet());
  // The Origin check is what stops cross-site WebSocket hijacking.
  io.engine.use((req: IncomingMessage, _res: unknown, next: (err?: Error) => void) => {
    const { origin, host } = req.headers;
    if (options.isOriginAllowed(origin, host)) return next();
    if (origin !== undefined) options.onOriginRefused?.(origin, host, "socket.io");
    next(new Error("origin not allowed"));
  });
  coalesceWebsocketWrites(io.engine);
  return io;
}
