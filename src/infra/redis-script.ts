import { clientErrorOf } from "./client-error.js";
import type { RedisClient } from "./redis.js";

/** Runs a Lua script with its keys (any number) and arguments; resolves with the raw reply. */
export type RedisScript = (keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

type Command = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Defines a Lua script on the client (EVALSHA, falling back to EVAL once per connection)
 * that takes any number of keys. A Redis that cannot be reached rejects with AppError
 * UNAVAILABLE, so callers never map connection errors themselves.
 *
 * On a cluster the script is kept out of auto-pipelining: ioredis groups auto-pipelined
 * commands by the slot of their first argument, which here is the key count, so scripts of
 * different slots would share a pipeline that Redis Cluster refuses. Each one is sent on
 * its own to the node of its keys instead (still without waiting for the others).
 */
export function defineScript(redis: RedisClient, name: string, lua: string): RedisScript {
  redis.defineCommand(name, { lua });
  if (redis.isCluster) {
    // A new array: the default one may be shared by every client of the process.
    redis.options.autoPipeliningIgnoredCommands = [
      ...(redis.options.autoPipeliningIgnoredCommands ?? []),
      name,
    ];
  }
  const defined = (redis as unknown as Record<string, Command>)[name];
  if (!defined) throw new Error(`script ${name} was not defined`);
  const run = defined.bind(redis);
  return (keys, args) => run(keys.length, ...keys, ...args).catch(rethrowForClient);
}

/** A Redis that cannot be reached is the client's UNAVAILABLE, not an internal error. */
function rethrowForClient(err: unknown): never {
  throw clientErrorOf(err) ?? err;
}
