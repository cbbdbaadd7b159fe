import { type PendingLimit, rateLimited } from "./rate-limit.js";

/**
 * A rate limit consumed inside a store's own Lua script, with its write: one Redis round
 * trip instead of two. It exists because the limit's own round trip was the largest cost a
 * chat message had over a bare Socket.IO server (docs/performance.md).
 *
 * The script consumes rate-limiter-flexible's own counters with the library's own
 * algorithm, so both ways of consuming share one limit. The Lua below mirrors the library's
 * internals (RateLimiterRedis' increment script, BurstyRateLimiter's order): package.json
 * pins the version exactly, and test/foundation/rate-limit-script.test.ts holds the two to
 * the same counts. Everything about the counters' encoding is here: the store script sees
 * opaque keys and arguments, runs `rl_consume`, and hands its reply back to `check`.
 */

/** A limit as a store script takes it. */
export interface ScriptLimit {
  /** To put right after the script's fixed keys; `rl_consume` answers how many there are. */
  readonly keys: readonly string[];
  /** To put last: the counter count, then points and durationSec of each counter. */
  readonly args: readonly number[];
  /** Throws RATE_LIMITED (with retryAfterMs) when the script answered `rl_consume`'s refusal. */
  check(reply: unknown): void;
}

/**
 * `local refusal, keys = rl_consume(keyIndex, argIndex)`: consumes one point of the counters
 * at KEYS[keyIndex..] described from ARGV[argIndex] (see ScriptLimit). `refusal` is nil when
 * allowed, else the reply the script must return as it is ({-1, ms before the next point});
 * `keys` is how many keys the counters took (0 without a limit). `rl_incr` is RateLimiterRedis'
 * increment script for one point; the burst counter is touched only once the sustained one is
 * spent (BurstyRateLimiter).
 */
export const LUA_RATE_LIMIT = `
local function rl_incr(key, durationSec)
  redis.call('SET', key, 0, 'EX', durationSec, 'NX')
  local consumed = redis.call('INCRBY', key, 1)
  local ttl = redis.call('PTTL', key)
  if ttl == -1 then
    redis.call('EXPIRE', key, durationSec)
    ttl = 1000 * durationSec
  end
  return consumed, ttl
end
local function rl_consume(keyIndex, argIndex)
  local n = tonumber(ARGV[argIndex])
  local wait = nil
  for i = 0, n - 1 do
    local consumed, ttl = rl_incr(KEYS[keyIndex + i], ARGV[argIndex + 2 * i + 2])
    if consumed <= tonumber(ARGV[argIndex + 2 * i + 1]) then return nil, n end
    wait = wait and math.min(wait, ttl) or ttl
  end
  if wait then return {-1, wait}, n end
  return nil, n
end
`;

type Refusal = [-1, msBeforeNext: number];

const isRefusal = (reply: unknown): reply is Refusal => Array.isArray(reply) && reply[0] === -1;

/** Nothing for the script to consume: no limit, or one already consumed on its own. */
const NO_COUNTERS: ScriptLimit = { keys: [], args: [0], check() {} };

/**
 * The pending limit as a script's keys and arguments. A limit whose counters cannot join a
 * script (counted in this process, or on a Redis Cluster) is consumed here first, in a
 * round trip of its own, and rejects with RATE_LIMITED when it refuses.
 */
export async function limitForScript(limit: PendingLimit | undefined): Promise<ScriptLimit> {
  if (!limit) return NO_COUNTERS;
  const counters = limit.limiter.scriptCounters?.(limit.key);
  if (!counters) {
    await limit.limiter.consume(limit.key);
    return NO_COUNTERS;
  }
  const args = [counters.length];
  for (const c of counters) args.push(c.points, c.durationSec);
  return {
    keys: counters.map((c) => c.key),
    args,
    check(reply) {
      if (isRefusal(reply)) throw rateLimited(limit.limiter.name, reply[1]);
    },
  };
}
