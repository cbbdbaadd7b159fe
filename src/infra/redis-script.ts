import { clientErrorOf } from "./client-error.js";
import type { RedisClient } from "./redis.js";

/** Runs a Lua script with its keys and arguments; resolves with the decoded reply. */
export type RedisScript<R = unknown> = (
  keys: readonly string[],
  args: readonly (string | number)[],
) => Promise<R>;

/** A Lua script as a store defines it: its Lua lives in a `.lua.ts` file beside the store. */
export interface ScriptDefinition<R> {
  /** The client command's name: one per script, the same Lua under the same name everywhere. */
  name: string;
  lua: string;
  /**
   * How many keys every call passes. With a fixed count the script stays in ioredis
   * auto-pipelining, on a cluster too (it groups commands by the first key); omitted, any
   * number of keys may be passed and, on a cluster, each call is sent on its own.
   */
  keys?: number;
  /** The reply as the store's types (Redis hands Lua tables over as arrays). */
  decode?: (reply: unknown) => R;
}

type Command = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Defines a Lua script on the client (EVALSHA, falling back to EVAL once per connection).
 * A Redis that cannot be reached rejects with AppError UNAVAILABLE, so callers never map
 * connection errors themselves.
 *
 * A script with any number of keys is kept out of auto-pipelining on a cluster: ioredis
 * groups auto-pipelined commands by the slot of their first argument, which there is the
 * key count, so scripts of different slots would share a pipeline that Redis Cluster
 * refuses. Each one is sent on its own to the node of its keys instead (still without
 * waiting for the others).
 */
export function defineScript<R = unknown>(
  redis: RedisClient,
  definition: ScriptDefinition<R>,
): RedisScript<R> {
  const { name, lua, keys: keyCount } = definition;
  redis.defineCommand(name, keyCount === undefined ? { lua } : { lua, numberOfKeys: keyCount });
  if (redis.isCluster && keyCount === undefined) {
    // A new array: the default one may be shared by every client of the process.
    redis.options.autoPipeliningIgnoredCommands = [
      ...(redis.options.autoPipeliningIgnoredCommands ?? []),
      name,
    ];
  }
  const defined = (redis as unknown as Record<string, Command>)[name];
  if (!defined) throw new Error(`script ${name} was not defined`);
  const run = defined.bind(redis);
  const decode = definition.decode ?? ((reply: unknown) => reply as R);
  return async (keys, args) => {
    if (keyCount !== undefined && keys.length !== keyCount) {
      throw new Error(`script ${name} takes ${keyCount} keys, not ${keys.length}`);
    }
    const sent = keyCount === undefined ? run(keys.length, ...keys, ...args) : run(...keys, ...args);
    return decode(await sent.catch(rethrowForClient));
  };
}

/** A Redis that cannot be reached is the client's UNAVAILABLE, not an internal error. */
function rethrowForClient(err: unknown): never {
  throw clientErrorOf(err) ?? err;
}
