import { AppError } from "../protocol/index.js";
import { isRedisUnavailableError, type RedisClient } from "./redis.js";

/** Runs a Lua script with its keys (any number) and arguments; resolves with the raw reply. */
export type RedisScript = (keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/**
 * Defines a Lua script on the client (EVALSHA, falling back to EVAL once per connection).
 * A Redis that cannot be reached rejects with AppError UNAVAILABLE, so callers never map
 * connection errors themselves.
 */
export function defineScript(redis: RedisClient, name: string, lua: string): RedisScript {
  redis.defineCommand(name, { lua });
  const command = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[
    name
  ];
  if (!command) throw new Error(`script ${name} was not defined`);
  const run = command.bind(redis);
  return (keys, args) => run(keys.length, ...keys, ...args).catch(rethrowUnavailable);
}

/** A Redis that cannot be reached is the client's UNAVAILABLE, not an internal error. */
export function rethrowUnavailable(err: unknown): never {
  if (isRedisUnavailableError(err)) throw new AppError("UNAVAILABLE", undefined, { cause: err });
  throw err;
}
