import { LUA_OUTBOX } from "../webhooks/outbox.lua.js";

/**
 * The Lua of the Redis presence store (`presence-store-redis.ts`; its keys are listed at
 * `presenceKeys`). The per-user scripts take the user's two keys, KEYS[1] = conns and
 * KEYS[2] = state, which share the hash tag `{<userId>}`, and reply
 * {changed, removed, status, text, lastSeen, devices, offlineAt}.
 *
 * Every per-user script also takes KEYS[3] = the webhook outbox and, after its own ARGV,
 * the user id and the outbox spec (outbox.lua.ts): a cluster-wide online/offline
 * transition writes its `user.online` / `user.offline` in the same step.
 */

const USER_LIB = `${LUA_OUTBOX}
local OB_USER, OB_SPEC = ARGV[#ARGV - 1], ARGV[#ARGV]
local function emit(event, field, ms)
  ob_emit(KEYS[3], OB_SPEC, event, '{"userId":' .. cjson.encode(OB_USER) .. ',"' .. field .. '":' .. ms .. '}')
end
local function reply(changed, removed)
  local f = redis.call('HMGET', KEYS[2], 'online', 'status', 'text', 'lastSeen', 'offlineAt')
  local status = 'offline'
  if f[1] == '1' then status = f[2] or 'online' end
  return {changed, removed, status, f[3] or '', f[4] or '0', redis.call('HLEN', KEYS[1]), f[5] or ''}
end
local function goOnline()
  redis.call('HSET', KEYS[2], 'online', '1')
  redis.call('HDEL', KEYS[2], 'offlineAt')
  redis.call('PERSIST', KEYS[2])
end
local function goOffline(retentionMs)
  redis.call('HDEL', KEYS[2], 'online', 'status', 'offlineAt')
  redis.call('PEXPIRE', KEYS[2], retentionMs)
  emit('user.offline', 'lastSeen', redis.call('HGET', KEYS[2], 'lastSeen') or '0')
end
`;

/** ARGV: now, field, max (0: no cap). changed = -1: refused, the user holds max connections. */
export const CONNECT_LUA = `${USER_LIB}
local max = tonumber(ARGV[3])
if max > 0 and redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 and redis.call('HLEN', KEYS[1]) >= max then
  return reply(-1, 0)
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], 'lastSeen', ARGV[1])
local changed = 0
if redis.call('HGET', KEYS[2], 'online') ~= '1' then
  changed = 1
  emit('user.online', 'at', ARGV[1])
end
goOnline()
return reply(changed, 0)`;

/** ARGV: now, field, lastSeen, offlineAt, retentionMs */
export const DISCONNECT_LUA = `${USER_LIB}
if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then return reply(0, 0) end
if tonumber(ARGV[3]) > tonumber(redis.call('HGET', KEYS[2], 'lastSeen') or '0') then
  redis.call('HSET', KEYS[2], 'lastSeen', ARGV[3])
end
if redis.call('HLEN', KEYS[1]) > 0 or redis.call('HGET', KEYS[2], 'online') ~= '1' then return reply(0, 1) end
if tonumber(ARGV[4]) > tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[2], 'offlineAt', ARGV[4])
  return reply(0, 1)
end
goOffline(ARGV[5])
return reply(1, 1)`;

/** ARGV: now, retentionMs */
export const SETTLE_LUA = `${USER_LIB}
local at = redis.call('HGET', KEYS[2], 'offlineAt')
if not at then return reply(0, 0) end
if redis.call('HLEN', KEYS[1]) > 0 then
  redis.call('HDEL', KEYS[2], 'offlineAt')
  return reply(0, 0)
end
if tonumber(at) > tonumber(ARGV[1]) then return reply(0, 0) end
goOffline(ARGV[2])
return reply(1, 0)`;

/** ARGV: now, status, text ('' for none) */
export const SET_STATUS_LUA = `${USER_LIB}
local before = redis.call('HMGET', KEYS[2], 'online', 'status', 'text')
if ARGV[2] == 'online' then redis.call('HDEL', KEYS[2], 'status') else redis.call('HSET', KEYS[2], 'status', ARGV[2]) end
if ARGV[3] == '' then redis.call('HDEL', KEYS[2], 'text') else redis.call('HSET', KEYS[2], 'text', ARGV[3]) end
redis.call('HSET', KEYS[2], 'lastSeen', ARGV[1])
local changed = 0
if before[1] == '1' then
  if (before[2] or 'online') ~= ARGV[2] or (before[3] or '') ~= ARGV[3] then changed = 1 end
elseif redis.call('HLEN', KEYS[1]) > 0 then
  -- connected but never announced (a registration raced a Redis that lost its data): heal it
  goOnline()
  emit('user.online', 'at', ARGV[1])
  changed = 1
end
return reply(changed, 0)`;

/** No ARGV: the user's state as it is. */
export const READ_LUA = `${USER_LIB}
return reply(0, 0)`;

/** KEYS[1] = a zset. ARGV: member, score. Removes the member only if a newer write did not move it. */
export const ZREM_IF_SCORE_LUA = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0`;
