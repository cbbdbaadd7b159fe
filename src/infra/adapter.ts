import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import type { Config } from "./config.js";
import { bridgeClassicEmitter, type EmitterBridge } from "./emitter-bridge.js";
import type { Logger } from "./logger.js";
import type { RedisConnections } from "./redis.js";
import { withShardedOrdering } from "./sharded-adapter.js";
import type { AppServer } from "./socket-server.js";

export type AdapterKind = "classic" | "sharded";

/**
 * The adapter for a configured choice: `auto` asks the server for its version, since
 * sharded pub/sub (SSUBSCRIBE) needs Redis >= 7. Every instance of one deployment must
 * end with the same kind; set REDIS_ADAPTER explicitly where that cannot be guaranteed.
 */
export async function resolveAdapterKind(
  choice: Config["redis"]["adapter"],
  redis: RedisConnections,
): Promise<{ kind: AdapterKind; serverVersion?: string }> {
  if (choice !== "auto") return { kind: choice };
  const info = String(await redis.command.info("server"));
  const serverVersion = /redis_version:(\S+)/.exec(info)?.[1];
  const major = Number(serverVersion?.split(".")[0] ?? 0);
  return { kind: major >= 7 ? "sharded" : "classic", serverVersion };
}

/** Attach the Redis adapter; must run before the first connection is accepted. */
function attachRedisAdapter(
  io: AppServer,
  redis: RedisConnections,
  kind: AdapterKind,
  channel: string,
  onError: (err: Error, what: string) => void,
) {
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

export interface AdapterChoice {
  /** The pub/sub kind of every instance (chat's feed follows it): classic until `attach` has decided. */
  kind(): AdapterKind;
  /** Decide the kind and attach the Redis adapter, before the first connection; nothing without Redis. */
  attach(): Promise<void>;
  /** After every socket is closed. */
  stop(): void;
}

/**
 * Which Socket.IO adapter carries broadcasts between instances: none without Redis, the
 * classic or the sharded Redis adapter (REDIS_ADAPTER), and with the sharded one a bridge
 * for @socket.io/redis-emitter, which publishes on the classic channels only.
 */
export function createAdapterChoice(options: {
  io: AppServer;
  redis: RedisConnections | undefined;
  /** REDIS_ADAPTER */
  adapter: Config["redis"]["adapter"];
  keyPrefix: string;
  logger: Logger;
}): AdapterChoice {
  const { io, redis } = options;
  const log = options.logger.child({ module: "adapter" });
  const channel = `${options.keyPrefix}socket.io`;
  let kind: AdapterKind = "classic";
  let emitterBridge: EmitterBridge | undefined;

  return {
    kind: () => kind,
    async attach() {
      if (!redis) return;
      let adapter: { kind: AdapterKind; serverVersion?: string } = { kind: "classic" };
      try {
        adapter = await resolveAdapterKind(options.adapter, redis);
      } catch (err) {
        log.error(
          { err: (err as Error).message },
          "REDIS_ADAPTER=auto could not read the Redis version: using classic; set REDIS_ADAPTER explicitly",
        );
      }
      kind = adapter.kind;
      attachRedisAdapter(io, redis, kind, channel, (err, what) =>
        log.warn({ err: err.message, what }, "adapter Redis call failed"),
      );
      if (kind === "sharded") {
        emitterBridge = bridgeClassicEmitter({ io, sub: redis.sub, channel, logger: options.logger });
        // Not fatal: ioredis subscribes once Redis is reachable.
        if (redis.isReady() && !(await emitterBridge.ready(2000))) {
          log.warn("the @socket.io/redis-emitter channels are not subscribed yet");
        }
      }
      log.info({ adapter: kind, mode: redis.mode, serverVersion: adapter.serverVersion }, "redis adapter");
    },
    stop() {
      emitterBridge?.stop();
    },
  };
}
