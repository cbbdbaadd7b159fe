import { createServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { Router } from "express";
import { CLIENT_EVENT_NAMES, type ErrorCode } from "../protocol/index.js";
import type { Config } from "./config.js";
import { createHttpApp } from "./http.js";
import type { Readiness } from "./lifecycle.js";
import type { Logger } from "./logger.js";
import { createMetrics, createMetricsRouter, type Metrics } from "./metrics.js";
import { createOriginPolicy, logRefusedOrigin, type OriginRefusal } from "./origin.js";
import type { RedisConnections } from "./redis.js";
import { type AppServer, createSocketServer } from "./socket-server.js";

export interface TransportOptions {
  settings: Pick<Config, "version" | "cors" | "http" | "socket" | "metrics">;
  instanceId: string;
  /** Serve HTTPS/WSS with this certificate and key. */
  tls: { cert: Buffer; key: Buffer } | undefined;
  /** Pages of enabled features that `GET /` points to, such as `{demo: "/demo"}`. */
  links: Record<string, string>;
  readiness: Readiness;
  /** Handshakes in progress, for rt_handshakes_in_flight. */
  handshakesInFlight?: () => number;
  redis: RedisConnections | undefined;
  logger: Logger;
}

export interface Transport {
  httpServer: HttpServer;
  io: AppServer;
  metrics: Metrics;
  /** Where the features' HTTP routes are mounted (after the probes and /metrics, before the 404). */
  routes: Router;
  /** Counts a refused handshake by the code the client got (rt_handshakes_refused_total). */
  countRefusal(code: ErrorCode): void;
}

/**
 * The HTTP(S) server with the Express app (probes, /metrics, the features' routes) and the
 * Socket.IO server on it, both behind one origin policy, and the metrics that count them.
 * New connections are refused while draining.
 */
export function createTransport(options: TransportOptions): Transport {
  const { settings, readiness, logger } = options;
  const isOriginAllowed = createOriginPolicy(settings.cors);
  const logOriginRefused = logRefusedOrigin(logger);
  // Metrics need `io` (the socket count), so they exist only once `io` does; these run later.
  const countRefusal = (code: ErrorCode) => metrics.handshakesRefused.inc({ code });
  const onOriginRefused: OriginRefusal = (origin, host, what) => {
    logOriginRefused(origin, host, what);
    if (what === "socket.io") countRefusal("FORBIDDEN");
  };

  // Socket.IO must attach to a server that already has the Express handler (it wraps the
  // existing request listeners), but the features that provide routes need `io`: the
  // feature routes are mounted into a router the app already holds.
  const routes = Router();
  const httpApp = createHttpApp({
    instanceId: options.instanceId,
    version: settings.version,
    startedAt: Date.now(),
    bodyLimit: settings.http.bodyLimit,
    isOriginAllowed,
    onOriginRefused,
    readiness: readiness.reason,
    logger,
    routes,
    links: options.links,
  });
  const httpServer = options.tls ? createHttpsServer(options.tls, httpApp) : createServer(httpApp);
  const io = createSocketServer(httpServer, {
    maxHttpBufferSize: settings.socket.maxHttpBufferSize,
    isOriginAllowed,
    onOriginRefused,
    refuseReason: () => {
      if (!readiness.draining()) return undefined;
      countRefusal("UNAVAILABLE");
      return "server is shutting down";
    },
  });

  const metrics = createMetrics({
    knownEvents: CLIENT_EVENT_NAMES,
    connectedSockets: () => io.of("/").sockets.size,
    handshakesInFlight: options.handshakesInFlight,
    ready: () => readiness.reason() === undefined,
    redis: options.redis,
    version: settings.version,
  });
  routes.use(createMetricsRouter(metrics, settings.metrics.token));
  return { httpServer, io, metrics, routes, countRefusal };
}
