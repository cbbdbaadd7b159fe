/**
 * The Lua of the Redis instance store (`instance-store-redis.ts`). Its two keys share the
 * hash tag `{instances}`, so every script stays in one Redis Cluster slot:
 *
 *   P {instances}:live   ZSET  registration -> last heartbeat (ms)
 *   P {instances}:dead   ZSET  registration declared dead, still being cleaned up -> last heartbeat (ms)
 */

/** KEYS: live. ARGV: now, registration. 1 when the registration is live (its heartbeat moved), else 0. */
export const HEARTBEAT_LUA = `
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0`;

/**
 * KEYS: live, dead. ARGV: staleBefore (exclusive), limit.
 * Moves stale registrations to `dead` (so their heartbeat now fails and they re-register)
 * and returns every dead one still to clean, including those another reaper started on,
 * as registration, last heartbeat pairs.
 */
export const CLAIM_DEAD_LUA = `
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
for i = 1, #stale, 2 do
  redis.call('ZADD', KEYS[2], stale[i + 1], stale[i])
  redis.call('ZREM', KEYS[1], stale[i])
end
return redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')`;

/** KEYS: live, dead. ARGV: registration, last heartbeat. Adds it to `dead` unless either holds it. */
export const DECLARE_DEAD_LUA = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
return redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])`;
