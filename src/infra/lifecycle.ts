import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { AdapterChoice } from "./adapter.js";
import type { Feature } from "./feature.js";
import type { Logger } from "./logger.js";
import type { RedisConnections } from "./redis.js";
import type { AppServer } from "./socket-server.js";

/** At most this much of SHUTDOWN_GRACE_MS is kept for closing sockets and Redis after the drain. */
const CLOSE_RESERVE_MS = 1000;

export interface Readiness {
  /** undefined when ready, otherwise why not (what /ready answers). */
  reason(): string | undefined;
  /** Once shutdown has begun: new connections are refused. */
  draining(): boolean;
  drain(): void;
}

/** Not ready while draining or while Redis (when there is one) is down. */
export function createReadiness(
  redis: Pick<RedisConnections, "isReady"> | undefined,
  /** Every handshake place is taken (admission control): new clients should go elsewhere for now. */
  saturated: () => boolean = () => false,
  /** The instance holds all the connections it can: new clients should go elsewhere. */
  full: () => boolean = () => false,
): Readiness {
  let draining = false;
  return {
    reason() {
      if (draining) return "draining";
      if (redis && !redis.isReady()) return "redis unavailable";
      if (full()) return "full";
      if (saturated()) return "saturated";
      return undefined;
    },
    draining: () => draining,
    drain() {
      draining = true;
    },
  };
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

export interface LifecycleParts {
  io: AppServer;
  httpServer: HttpServer;
  redis: RedisConnections | undefined;
  adapter: Pick<AdapterChoice, "attach" | "stop">;
  /** Started in this order, stopped in the reverse one. */
  features: readonly Feature[];
  readiness: Readiness;
  logger: Logger;
  listen: { port: number; host: string; backlog: number; tls: boolean };
  shutdownGraceMs: number;
  /** Said in the "listening" line: the version, and the pages of enabled features by path. */
  announce: { version: string; pages: Record<string, string> };
}

export interface Lifecycle {
  /** Listen on the configured port/host. Resolves with the bound address. */
  start(options?: { waitForRedisMs?: number }): Promise<AddressInfo>;
  /** Graceful shutdown (SIGTERM): drain, tell clients, close sockets within the grace period, close Redis. */
  shutdown(reason?: string): Promise<void>;
  url(): string;
}

/**
 * Start: Redis (not waited for beyond a bound), the adapter, the features in order, then
 * the port. Shutdown: refuse new connections, tell clients, stop the features in reverse
 * (each bounded by the grace), wait for clients to leave, close what is left.
 */
export function createLifecycle(parts: LifecycleParts): Lifecycle {
  const { io, httpServer, redis, features, readiness } = parts;
  const log = parts.logger.child({ module: "app" });
  let address: AddressInfo | undefined;
  let shuttingDown: Promise<void> | undefined;

  const url = () => {
    if (!address) throw new Error("not started");
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    const scheme = parts.listen.tls ? "https" : "http";
    return `${scheme}://${host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host}:${address.port}`;
  };

  const listen = () =>
    new Promise<AddressInfo>((resolve, reject) => {
      httpServer.once("error", reject);
      const { port, host, backlog } = parts.listen;
      httpServer.listen({ port, host, backlog }, () => {
        httpServer.off("error", reject);
        resolve(httpServer.address() as AddressInfo);
      });
    });

  const stopFeatures = async (deadline: number) => {
    for (const feature of [...features].reverse()) {
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
  };

  const drain = async (reason: string) => {
    // The whole shutdown must fit in the grace (an orchestrator kills the process after
    // its own): clients get the grace minus a reserve for closing sockets and Redis.
    const grace = parts.shutdownGraceMs;
    const deadline = Date.now() + grace - Math.min(CLOSE_RESERVE_MS, grace / 5);
    readiness.drain();
    log.info({ reason, sockets: io.of("/").sockets.size }, "draining");
    io.local.emit("server:shutdown", { reconnect: true });
    await stopFeatures(deadline);
    // Give clients the grace period to move on by themselves, then close the rest.
    while (io.of("/").sockets.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    io.local.disconnectSockets(true);
    for (const feature of features) feature.close?.();
    parts.adapter.stop();
    await new Promise<void>((resolve) => {
      io.close(() => resolve());
      httpServer.closeAllConnections();
    });
    await redis?.close();
    log.info("stopped");
  };

  return {
    async start(options = {}) {
      if (redis && !(await redis.waitUntilReady(options.waitForRedisMs ?? 5000))) {
        log.warn("Redis is not reachable yet: starting anyway, /ready stays 503 until it is");
      }
      await parts.adapter.attach();
      for (const feature of features) await feature.start?.();
      address = await listen();
      const pages = Object.entries(parts.announce.pages).map(([name, path]) => [name, `${url()}${path}`]);
      log.info(
        {
          port: address.port,
          host: parts.listen.host,
          url: url(),
          ...Object.fromEntries(pages),
          redis: Boolean(redis),
          version: parts.announce.version,
        },
        "listening",
      );
      return address;
    },
    url,
    shutdown(reason = "shutdown") {
      shuttingDown ??= drain(reason);
      return shuttingDown;
    },
  };
}
