import { randomBytes } from "node:crypto";
import { createServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { Router } from "express";
import type { DestinationStream } from "pino";
import type { DisconnectReason } from "socket.io";
import { createAddressLimit, createAdmission } from "./auth/connection-limits.js";
import { createAuthMiddleware, createTokenLifecycle } from "./auth/socket-auth.js";
import { createTokenVerifier, type TokenVerifier } from "./auth/verifier.js";
import { type AdapterKind, createAdapterChoice } from "./infra/adapter.js";
import { startSlowConsumerGuard } from "./infra/backpressure.js";
import { readTlsFiles } from "./infra/config/files.js";
import type { Config } from "./infra/config.js";
import { type AppSocket, createEventRouter, type EventRouter } from "./infra/event-router.js";
import type { Feature } from "./infra/feature.js";
import { reportingRefusals } from "./infra/handshake-refusals.js";
import { createHttpApp } from "./infra/http.js";
import { createLogger, type Logger } from "./infra/logger.js";
import { createMetrics, createMetricsRouter, type Metrics } from "./infra/metrics.js";
import { createOriginPolicy, logRefusedOrigin, type OriginRefusal } from "./infra/origin.js";
import { createRateLimiterFactory, type RateLimiterFactory } from "./infra/rate-limit.js";
import { createRedisConnections, type RedisConnections } from "./infra/redis.js";
import { type AppServer, createSocketServer } from "./infra/socket-server.js";
import { CLIENT_EVENT_NAMES, type ErrorCode } from "./protocol/index.js";

/** At most this much of SHUTDOWN_GRACE_MS is kept for closing sockets and Redis after the drain. */
const CLOSE_RESERVE_MS = 1000;

export interface AppDeps {
  /** Where log lines go (tests read them); stdout by default. */
  logDestination?: DestinationStream;
}

export interface App {
  config: Config;
  instanceId: string;
  logger: Logger;
  io: AppServer;
  httpServer: HttpServer;
  redis: RedisConnections | undefined;
  /** Listen on config.port/host. Resolves with the bound address. */
  start(options?: { waitForRedisMs?: number }): Promise<AddressInfo>;
  /** Graceful shutdown (SIGTERM): drain, tell clients, close sockets within the grace period, close Redis. */
  shutdown(reason?: string): Promise<void>;
  url(): string;
}

/** Whether `work` settles before the `deadline` (epoch ms); its rejection is thrown. */
async function settlesBefore(work: Promise<void> | void, deadline: number): Promise<boolean> {
  if (work === undefined) return true;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Everything a feature module may be built from. */
export interface FeatureDeps {
  config: Config;
  instanceId: string;
  logger: Logger;
  io: AppServer;
  redis: RedisConnections | undefined;
  rateLimiter: RateLimiterFactory;
  verifier: TokenVerifier;
  metrics: Metrics;
  /** The pub/sub kind every instance uses (known once `start` has asked Redis): chat's feed follows it. */
  pubsubKind: () => AdapterKind;
}

/** Builds the feature modules from the shared dependencies, wiring them to each other explicitly. */
export type FeaturesFactory = (deps: FeatureDeps) => Feature[];

/**
 * Builds the whole service from a validated config: the one place where modules are
 * wired. `main.ts` calls it with the environment's config; tests call it with their own.
 */
export function createApp(
  config: Config,
  deps: AppDeps = {},
  buildFeatures: FeaturesFactory = () => [],
): App {
  // Before anything is logged: a missing file stops the start like an invalid variable.
  const tls = readTlsFiles(config.tls);
  const instanceId = config.instanceId ?? `${process.pid}-${randomBytes(4).toString("hex")}`;
  const logger = createLogger({
    level: config.logLevel,
    format: config.logFormat,
    instanceId,
    destination: deps.logDestination,
  });
  for (const warning of config.warnings) logger.warn(warning);
  const log = logger.child({ module: "app" });
  const startedAt = Date.now();

  const redis = config.redis.url
    ? createRedisConnections({
        url: config.redis.url,
        mode: config.redis.mode,
        clusterNodes: config.redis.clusterNodes,
        sentinels: config.redis.sentinels,
        sentinelName: config.redis.sentinelName,
        logger,
      })
    : undefined;
  const isOriginAllowed = createOriginPolicy(config.cors);
  const logOriginRefused = logRefusedOrigin(logger);
  // Metrics need `io` (the socket count), so they exist only once `io` does; these run later.
  const countRefusal = (code: ErrorCode) => metrics.handshakesRefused.inc({ code });
  const onOriginRefused: OriginRefusal = (origin, host, what) => {
    logOriginRefused(origin, host, what);
    if (what === "socket.io") countRefusal("FORBIDDEN");
  };
  const verifier = createTokenVerifier(config.jwt);
  const rateLimiter = createRateLimiterFactory({ redis: redis?.command, keyPrefix: config.redis.keyPrefix });

  let draining = false;
  const readiness = (): string | undefined => {
    if (draining) return "draining";
    if (redis && !redis.isReady()) return "redis unavailable";
    return undefined;
  };

  // Socket.IO must attach to a server that already has the Express handler (it wraps the
  // existing request listeners), but the features that provide routes need `io`: the
  // feature routes are mounted into a router the app already holds.
  const featureRoutes = Router();
  const httpApp = createHttpApp({
    instanceId,
    version: config.version,
    startedAt,
    bodyLimit: config.http.bodyLimit,
    isOriginAllowed,
    onOriginRefused,
    readiness,
    logger,
    routes: featureRoutes,
    links: {
      ...(config.demo.enabled ? { demo: "/demo" } : {}),
      ...(config.admin.enabled ? { admin: "/admin/" } : {}),
    },
  });
  const httpServer = tls ? createHttpsServer(tls, httpApp) : createServer(httpApp);
  const io = createSocketServer(httpServer, {
    maxHttpBufferSize: config.socket.maxHttpBufferSize,
    isOriginAllowed,
    onOriginRefused,
    refuseReason: () => {
      if (!draining) return undefined;
      countRefusal("UNAVAILABLE");
      return "server is shutting down";
    },
  });

  const metrics = createMetrics({
    knownEvents: CLIENT_EVENT_NAMES,
    connectedSockets: () => io.of("/").sockets.size,
    ready: () => readiness() === undefined,
    redis,
    version: config.version,
  });
  featureRoutes.use(createMetricsRouter(metrics, config.metrics.token));

  const adapter = createAdapterChoice({
    io,
    redis,
    choice: config.redis.adapter,
    keyPrefix: config.redis.keyPrefix,
    logger,
  });
  const featureDeps: FeatureDeps = {
    config,
    instanceId,
    logger,
    io,
    redis,
    rateLimiter,
    verifier,
    metrics,
    pubsubKind: adapter.kind,
  };
  const built = buildFeatures(featureDeps);
  const router: EventRouter = createEventRouter({ logger, observe: metrics.observeEvent });
  const tokens = createTokenLifecycle({
    verifier,
    logger,
    clockToleranceSec: config.jwt.clockToleranceSec,
    onUserChanged: async (socket) =>
      (await Promise.all(built.map((f) => f.onUserChanged?.(socket) ?? []))).flat(),
  });
  tokens.register(router);
  for (const feature of built) {
    feature.register?.(router);
    if (feature.httpRouter) featureRoutes.use(feature.httpRouter);
  }

  // Each step's refusals are counted by the code the client gets (rt_handshakes_refused_total).
  io.use(
    reportingRefusals(
      createAddressLimit({
        perAddress: rateLimiter("connect-ip", { points: config.socket.connectPerIpPerMin, durationSec: 60 }),
        logger,
      }),
      countRefusal,
    ),
  );
  io.use(reportingRefusals(createAuthMiddleware({ verifier, logger }), countRefusal));
  io.use(reportingRefusals(createAdmission({ features: built, logger }), countRefusal));

  const connLog = logger.child({ module: "connection" });
  // One listener of each kind per socket, the same function for every socket (`this` is
  // the socket): a closure per feature per socket cost each idle connection about 200
  // bytes apiece (docs/performance.md). A feature that throws must not skip the others.
  const each = (what: string, socket: AppSocket, hook: (feature: Feature) => void) => {
    for (const feature of built) {
      try {
        hook(feature);
      } catch (err) {
        connLog.error({ err, feature: feature.name, socketId: socket.id }, `${what} hook failed`);
      }
    }
  };
  function onDisconnecting(this: AppSocket): void {
    each("disconnecting", this, (f) => f.onDisconnecting?.(this));
  }
  function onDisconnect(this: AppSocket, reason: DisconnectReason): void {
    tokens.onDisconnect(this);
    each("disconnect", this, (f) => f.onDisconnect?.(this));
    metrics.disconnections.inc({ reason });
    connLog.info({ socketId: this.id, userId: this.data.user.id, reason }, "disconnected");
  }

  io.on("connection", (socket) => {
    // Listeners first, synchronously: events sent right after connect must not be lost.
    router.attach(socket);
    tokens.onConnection(socket);
    for (const feature of built) feature.onConnection?.(socket);
    const userId = socket.data.user.id;
    metrics.connections.inc({ transport: socket.conn.transport.name });
    connLog.info(
      {
        socketId: socket.id,
        userId,
        transport: socket.conn.transport.name,
        address: socket.handshake.address,
      },
      "connected",
    );
    socket.on("disconnecting", onDisconnecting);
    socket.on("disconnect", onDisconnect);
  });

  let stopGuard: (() => void) | undefined;
  let address: AddressInfo | undefined;
  let shuttingDown: Promise<void> | undefined;

  const app: App = {
    config,
    instanceId,
    logger,
    io,
    httpServer,
    redis,
    async start(options = {}) {
      if (redis) {
        const ready = await redis.waitUntilReady(options.waitForRedisMs ?? 5000);
        if (!ready) log.warn("Redis is not reachable yet: starting anyway, /ready stays 503 until it is");
      }
      await adapter.attach();
      for (const feature of built) await feature.start?.();
      stopGuard = startSlowConsumerGuard({
        io,
        maxBufferedBytes: config.socket.maxBufferedBytes,
        logger,
        onDisconnect: () => metrics.slowConsumerDisconnects.inc(),
      });
      await new Promise<void>((resolve, reject) => {
        httpServer.once("error", reject);
        httpServer.listen(config.port, config.host, () => {
          httpServer.off("error", reject);
          resolve();
        });
      });
      address = httpServer.address() as AddressInfo;
      const url = app.url();
      log.info(
        {
          port: address.port,
          host: config.host,
          url,
          ...(config.demo.enabled ? { demo: `${url}/demo` } : {}),
          redis: Boolean(redis),
          version: config.version,
        },
        "listening",
      );
      return address;
    },
    url() {
      if (!address) throw new Error("not started");
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      const scheme = config.tls ? "https" : "http";
      return `${scheme}://${host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host}:${address.port}`;
    },
    shutdown(reason = "shutdown") {
      shuttingDown ??= (async () => {
        // The whole shutdown must fit in the grace (an orchestrator kills the process after
        // its own): clients get the grace minus a reserve for closing sockets and Redis.
        const deadline =
          Date.now() + config.shutdownGraceMs - Math.min(CLOSE_RESERVE_MS, config.shutdownGraceMs / 5);
        draining = true;
        stopGuard?.();
        log.info({ reason, sockets: io.of("/").sockets.size }, "draining");
        io.local.emit("server:shutdown", { reconnect: true });
        for (const feature of [...built].reverse()) {
          try {
            // A hung Redis makes every write of a stop wait its command timeout: the grace
            // bounds them all, whatever is left undone (presence entries are then reaped).
            if (!(await settlesBefore(feature.stop?.(), deadline))) {
              log.warn({ feature: feature.name }, "feature stop did not finish within the grace period");
            }
          } catch (err) {
            log.error({ err, feature: feature.name }, "feature stop failed");
          }
        }
        // Give clients the grace period to move on by themselves, then close the rest.
        while (io.of("/").sockets.size > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        io.local.disconnectSockets(true);
        tokens.stop();
        adapter.stop();
        await new Promise<void>((resolve) => {
          io.close(() => resolve());
          httpServer.closeAllConnections();
        });
        await redis?.close();
        log.info("stopped");
      })();
      return shuttingDown;
    },
  };
  return app;
}
