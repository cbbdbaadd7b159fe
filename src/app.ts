import { randomBytes } from "node:crypto";
import type { Server as HttpServer } from "node:http";
import type { DestinationStream } from "pino";
import { createAuthFeature } from "./auth/index.js";
import { createRevocations, cutRevokedSockets, type Revocations, withRevocation } from "./auth/revocation.js";
import { revocationChannel } from "./auth/revocation-store-redis.js";
import { createTokenVerifier, type TokenVerifier } from "./auth/verifier.js";
import { type AdapterKind, createAdapterChoice } from "./infra/adapter.js";
import { createAdmission } from "./infra/admission.js";
import { createSlowConsumerGuard } from "./infra/backpressure.js";
import { readTlsFiles } from "./infra/config/files.js";
import type { Config } from "./infra/config.js";
import { createEventRouter } from "./infra/event-router.js";
import type { Feature } from "./infra/feature.js";
import { createHandshake } from "./infra/handshake.js";
import { createLifecycle, createReadiness, type Lifecycle } from "./infra/lifecycle.js";
import { createLogger, type Logger } from "./infra/logger.js";
import type { Metrics } from "./infra/metrics.js";
import { connectionCapacity, openFileLimit } from "./infra/open-files.js";
import { createRateLimiterFactory, type RateLimiterFactory } from "./infra/rate-limit.js";
import { createRedisConnections, type RedisConnections } from "./infra/redis.js";
import { attachSocketHooks } from "./infra/socket-hooks.js";
import type { AppServer } from "./infra/socket-server.js";
import { createTransport } from "./infra/transport.js";
import { createStores } from "./stores.js";

/**
 * The retry hint of a handshake refused for admission control: about what a storm's excess
 * needs to drain at the connect rates measured (docs/scaling.md); the SDK adds its backoff.
 */
const HANDSHAKE_RETRY_AFTER_MS = 1000;

export interface AppDeps {
  /** Where log lines go (tests read them); stdout by default. */
  logDestination?: DestinationStream;
}

export interface App extends Lifecycle {
  config: Config;
  instanceId: string;
  logger: Logger;
  io: AppServer;
  httpServer: HttpServer;
  redis: RedisConnections | undefined;
}

/**
 * What the app builds before the features and shares among them. Only the feature
 * assembly (src/features.ts) sees all of it: each feature is handed what it uses.
 */
export interface SharedServices {
  instanceId: string;
  logger: Logger;
  io: AppServer;
  redis: RedisConnections | undefined;
  rateLimiter: RateLimiterFactory;
  /** Connection and room tokens, revocations checked. */
  verifier: TokenVerifier;
  revocations: Revocations;
  metrics: Metrics;
  /** The pub/sub kind every instance uses (known once `start` has asked Redis): chat's feed follows it. */
  pubsubKind: () => AdapterKind;
}

/** Builds the feature modules, wiring them to each other explicitly. */
export type FeaturesFactory = (config: Config, shared: SharedServices) => Feature[];

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

  const { url } = config.redis;
  const redis = url ? createRedisConnections({ ...config.redis, url, logger }) : undefined;

  // Under a reconnect storm, handshakes beyond the bound are refused at once (UNAVAILABLE),
  // and so are they once the instance holds all the connections its open files allow.
  let connectionsHeld = () => 0;
  const admission = createAdmission({
    maxInFlight: config.socket.handshakeMaxInFlight,
    retryAfterMs: HANDSHAKE_RETRY_AFTER_MS,
    maxConnections: connectionCapacity(config.socket.maxConnectionsPerInstance, openFileLimit()),
    connections: () => connectionsHeld(),
  });
  const readiness = createReadiness(redis, admission.saturated, admission.full);
  const links = {
    ...(config.demo.enabled ? { demo: "/demo" } : {}),
    ...(config.admin.enabled ? { admin: "/admin/" } : {}),
  };
  const { httpServer, io, metrics, routes, countRefusal } = createTransport({
    settings: config,
    instanceId,
    tls,
    links,
    readiness,
    handshakesInFlight: admission.inFlight,
    redis,
    logger,
  });
  connectionsHeld = () => io.engine.clientsCount;
  const adapter = createAdapterChoice({ io, redis, ...config.redis, logger });
  const revocations = buildRevocations(config, { redis, pubsubKind: adapter.kind, io, logger });
  const keyVerifier = createTokenVerifier(config.jwt);
  const verifier = withRevocation(keyVerifier, revocations);
  const rateLimiter = createRateLimiterFactory({ redis: redis?.command, keyPrefix: config.redis.keyPrefix });
  const pubsubKind = adapter.kind;
  const shared: SharedServices = {
    instanceId,
    logger,
    io,
    redis,
    rateLimiter,
    verifier,
    revocations,
    metrics,
    pubsubKind,
  };

  // Authentication first (every other feature sees an authenticated socket), the slow-consumer guard last.
  const features = [
    createAuthFeature(
      {
        clockToleranceSec: config.jwt.clockToleranceSec,
        connectPerIpPerMin: config.socket.connectPerIpPerMin,
      },
      {
        verifier: keyVerifier,
        revocations,
        rateLimiter,
        logger,
        onUserChanged: (socket) => hooks.userChanged(socket),
      },
    ),
    ...buildFeatures(config, shared),
    createSlowConsumerGuard({
      io,
      maxBufferedBytes: config.socket.maxBufferedBytes,
      logger,
      onDisconnect: () => metrics.slowConsumerDisconnects.inc(),
    }),
  ];

  const router = createEventRouter({ logger, observe: metrics.observeEvent });
  for (const feature of features) {
    feature.register?.(router);
    if (feature.httpRouter) routes.use(feature.httpRouter);
  }
  // Each refusal is counted by the code the client gets (rt_handshakes_refused_total).
  io.use(createHandshake(features, { logger, onRefused: countRefusal, admission }));
  const hooks = attachSocketHooks(io, features, { router, logger, metrics });

  const lifecycle = createLifecycle({
    io,
    httpServer,
    redis,
    adapter,
    features,
    readiness,
    logger,
    listen: { port: config.port, host: config.host, backlog: config.listenBacklog, tls: tls !== undefined },
    shutdownGraceMs: config.shutdownGraceMs,
    announce: { version: config.version, pages: links },
  });
  return { config, instanceId, logger, io, httpServer, redis, ...lifecycle };
}

/** Token revocation, shared by the handshake, `auth:refresh`, room tokens and the internal API. */
function buildRevocations(
  config: Config,
  deps: { redis: RedisConnections | undefined; pubsubKind: () => AdapterKind; io: AppServer; logger: Logger },
): Revocations {
  const { redis, pubsubKind, io, logger } = deps;
  const { keyPrefix } = config.redis;
  const revocations = createRevocations({
    store: createStores(redis && { redis, keyPrefix, pubsubKind }).revocations(),
    channel: redis && { sub: redis.sub, name: revocationChannel(keyPrefix) },
    keepMs: (config.jwt.maxLifetimeSec + config.jwt.clockToleranceSec) * 1000,
    logger,
  });
  // A socket admitted on this instance while a revocation was on its way is cut when it arrives.
  revocations.onRevoked(cutRevokedSockets(io, logger));
  return revocations;
}
