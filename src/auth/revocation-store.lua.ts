/**
 * The Lua of the Redis revocation store (`revocation-store-redis.ts`). One key per user:
 *
 *   P auth:revoked:{<userId>}   STRING  epoch ms before which the user's tokens are refused (PX: kept as long as a token issued before it can live)
 */

/**
 * KEYS: the user's key. ARGV: beforeMs, keepMs (from now, > 0), channel, userId.
 * Keeps the later of the stored and the given time, and the later expiry; publishes
 * `<beforeMs> <userId>` on the revocation channel in the same step, so no instance can
 * read the new time without the announcement being on its way. Returns the time in force.
 */
export const REVOKE_LUA = `
local before = tonumber(ARGV[1])
local prior = tonumber(redis.call('GET', KEYS[1]) or '0')
if prior > before then before = prior end
local keep = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left > keep then keep = left end
redis.call('SET', KEYS[1], string.format('%d', before), 'PX', string.format('%d', keep))
redis.call('PUBLISH', ARGV[3], string.format('%d', before) .. ' ' .. ARGV[4])
return string.format('%d', before)`;
