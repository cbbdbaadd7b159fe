import { isIP } from "node:net";
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import type { Config } from "./config.js";
import type { Logger } from "./logger.js";

/** A standalone/sentinel connection or a cluster: the stores use only what both offer. */
export type RedisClient = Redis | Cluster;

/**
 * The Redis connections of one instance: a command client for the stores and
 * rate limits, and a publish/subscribe pair for the Socket.IO adapter.
 */
export interface RedisConnections {
  command: RedisClient;
  pub: RedisClient;
  sub: RedisClient;
  mode: Config["redis"]["mode"];
  /** True when every connection is up. Drives /ready. */
  isReady(): boolean;
  /** Resolves once all connections are ready, or after `timeoutMs` (false then). */
  waitUntilReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface RedisConnectionOptions {
  url: string;
  mode?: Config["redis"]["mode"];
  clusterNodes?: Config["redis"]["clusterNodes"];
  sentinels?: Config["redis"]["sentinels"];
  sentinelName?: string;
  logger: Logger;
  /** Bound on any single command, so a hung Redis turns into UNAVAILABLE instead of a hung ack. */
  commandTimeoutMs?: number;
}

const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

/** How long `close()` waits for Redis to answer QUIT before cutting the connection. */
const QUIT_TIMEOUT_MS = 500;

/** Whether `promise` resolves within `ms` (a rejection counts as not). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function createRedisConnections(options: RedisConnectionOptions): RedisConnections {
  const log = options.logger.child({ module: "redis" });
  const base: RedisOptions = {
    retryStrategy,
    // A reconnect must not replay half-applied writes from before the outage.
    autoResendUnfulfilledCommands: false,
    connectionName: "rt-socket",
    lazyConnect: false,
  };
  const mode = options.mode ?? "standalone";
  const url = new URL(options.url);
  // SNI takes host names only; an IP address is verified against the certificate's IP SANs.
  const tls =
    url.protocol === "rediss:" ? (isIP(url.hostname) ? {} : { servername: url.hostname }) : undefined;
  const auth = {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };

  // One factory per mode, the role's options layered on top.
  const connect = (role: string, extra: RedisOptions): RedisClient => {
    const options_: RedisOptions = { ...base, ...extra, connectionName: `rt-socket:${role}` };
    if (mode === "cluster") {
      const seeds = options.clusterNodes?.length
        ? options.clusterNodes
        : [{ host: url.hostname, port: Number(url.port || 6379) }];
      const clusterOptions: ClusterOptions = {
        clusterRetryStrategy: retryStrategy,
        enableOfflineQueue: extra.enableOfflineQueue ?? true,
        enableAutoPipelining: extra.enableAutoPipelining ?? false,
        // SSUBSCRIBE must go to the node that owns each channel's slot.
        shardedSubscribers: role === "sub",
        // ElastiCache with TLS: certificates name the node hosts, not their IPs.
        ...(tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
        redisOptions: { ...options_, ...auth, ...(tls ? { tls } : {}) },
      };
      return new Cluster(seeds, clusterOptions);
    }
    if (mode === "sentinel") {
      return new Redis({
        ...options_,
        ...auth,
        sentinels: options.sentinels ?? [],
        name: options.sentinelName ?? "mymaster",
        ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
      });
    }
    return new Redis(options.url, { ...options_, ...(tls ? { tls } : {}) });
  };

  // Commands fail at once while disconnected (the caller answers UNAVAILABLE) rather than
  // queueing behind an outage.
  const command = connect("cmd", {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    enableAutoPipelining: true,
  });
  // The adapter subscribes before the connection is up, so its clients need the
  // offline queue (see PITFALLS: enableOfflineQueue=false breaks the adapter).
  // Auto-pipelined: the publishes of one tick (the presence changes of the handshakes one
  // Redis reply completed together) leave in one write, in order.
  const pub = connect("pub", { maxRetriesPerRequest: null, enableAutoPipelining: true });
  const sub = connect("sub", { maxRetriesPerRequest: null });
  for (const [role, client] of [
    ["pub", pub],
    ["sub", sub],
  ] as const) {
    handleDiscardedReplies(client, (err, command) =>
      log.debug({ role, command, err: err.message }, "pub/sub command failed"),
    );
  }

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
    mode,
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
          // A hung Redis never answers QUIT: the shutdown must still end within its grace.
          if (c.status === "ready" && (await settlesWithin(c.quit(), QUIT_TIMEOUT_MS))) return;
          c.disconnect();
        }),
      );
    },
  };
}

/**
 * The pub/sub commands the Socket.IO adapters send without looking at ioredis' promise:
 * `publish` (classic adapter), `(s)subscribe` and `(s)unsubscribe` (rooms appearing and
 * disappearing, `close()`). Queued while Redis is away and flushed with "Connection is
 * closed." when the connection is then closed (a shutdown during an outage), each one
 * became an unhandled rejection. Callers that await these commands still see the error.
 */
const DISCARDED_BY_ADAPTERS = [
  "publish",
  "spublish",
  "subscribe",
  "unsubscribe",
  "psubscribe",
  "punsubscribe",
  "ssubscribe",
  "sunsubscribe",
] as const;

function handleDiscardedReplies(client: RedisClient, onError: (err: Error, command: string) => void): void {
  const methods = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const command of DISCARDED_BY_ADAPTERS) {
    const send = methods[command];
    if (typeof send !== "function") continue;
    methods[command] = function (this: unknown, ...args: unknown[]) {
      const reply = send.apply(this, args);
      if (reply instanceof Promise) reply.catch((err: Error) => onError(err, command));
      return reply;
    };
  }
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
