import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "./logger.js";

/**
 * The Redis connections of one instance: a command client for the stores and
 * rate limits, and a publish/subscribe pair for the Socket.IO adapter.
 */
export interface RedisConnections {
  command: Redis;
  pub: Redis;
  sub: Redis;
  /** True when every connection is up. Drives /ready. */
  isReady(): boolean;
  /** Resolves once all connections are ready, or after `timeoutMs` (false then). */
  waitUntilReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface RedisConnectionOptions {
  url: string;
  logger: Logger;
  /** Bound on any single command, so a hung Redis turns into UNAVAILABLE instead of a hung ack. */
  commandTimeoutMs?: number;
}

const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

export function createRedisConnections(options: RedisConnectionOptions): RedisConnections {
  const log = options.logger.child({ module: "redis" });
  const base: RedisOptions = {
    retryStrategy,
    // A reconnect must not replay half-applied writes from before the outage.
    autoResendUnfulfilledCommands: false,
    connectionName: "rt-socket",
    lazyConnect: false,
  };
  // Commands fail at once while disconnected (the caller answers UNAVAILABLE) rather than
  // queueing behind an outage.
  const command = new Redis(options.url, {
    ...base,
    connectionName: "rt-socket:cmd",
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    enableAutoPipelining: true,
  });
  // The adapter subscribes before the connection is up, so its clients need the
  // offline queue (see PITFALLS: enableOfflineQueue=false breaks the adapter).
  const pub = new Redis(options.url, {
    ...base,
    connectionName: "rt-socket:pub",
    maxRetriesPerRequest: null,
  });
  const sub = new Redis(options.url, {
    ...base,
    connectionName: "rt-socket:sub",
    maxRetriesPerRequest: null,
  });

  const clients = { command, pub, sub } as const;
  for (const [role, client] of Object.entries(clients)) {
    // Log state changes once, not every retry: an outage would otherwise flood the log.
    let lastState = "";
    const report = (state: string, extra: Record<string, unknown> = {}) => {
      if (state === lastState) return;
      lastState = state;
      const level = state === "ready" ? "info" : "warn";
      log[level]({ role, state, ...extra }, `redis ${role} ${state}`);
    };
    client.on("ready", () => report("ready"));
    client.on("error", (err: Error) => report("error", { err: err.message }));
    client.on("close", () => report("closed"));
    client.on("end", () => report("ended"));
  }

  const all = [command, pub, sub];
  const isReady = () => all.every((c) => c.status === "ready");

  return {
    command,
    pub,
    sub,
    isReady,
    waitUntilReady(timeoutMs) {
      if (isReady()) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          cleanup();
          resolve(false);
        }, timeoutMs);
        const onReady = () => {
          if (!isReady()) return;
          cleanup();
          resolve(true);
        };
        const cleanup = () => {
          clearTimeout(timer);
          for (const c of all) c.off("ready", onReady);
        };
        for (const c of all) c.on("ready", onReady);
      });
    },
    async close() {
      await Promise.all(
        all.map(async (c) => {
          try {
            if (c.status === "ready") await c.quit();
            else c.disconnect();
          } catch {
            c.disconnect();
          }
        }),
      );
    },
  };
}

/** True for errors that mean "Redis is not reachable right now" rather than a bug. */
export function isRedisUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const name = err.name;
  const msg = err.message;
  return (
    name === "MaxRetriesPerRequestError" ||
    /Stream isn't writeable|enableOfflineQueue|Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|LOADING|CLUSTERDOWN|TRYAGAIN|READONLY|MASTERDOWN|connect ETIMEDOUT/i.test(
      msg,
    )
  );
}
