import { LUA_OUTBOX } from "../webhooks/outbox.lua.js";
import { MAX_SEQ, SEQ_DIGITS } from "./store.js";

/**
 * The Lua of the Redis notification store (`notification-store-redis.ts`). Every script's
 * first four keys are one user's, sharing the hash tag `{<userId>}`, so each touches a
 * single Redis Cluster slot:
 *   notif:{u}:ids     ZSET  id -> createdAt ms (every kept notification)
 *   notif:{u}:unread  ZSET  id -> createdAt ms (the unread subset: ZCARD is the count)
 *   notif:{u}:items   HASH  id -> JSON {type,title,body?,data?}
 *   notif:{u}:readat  HASH  id -> read time ms
 *   notif:{u}:idem:<sha256 of the key>  STRING  the id that key created for u, for 24 h
 * Ties in score sort by member, and ids of one millisecond differ only in a fixed-width
 * sequence, so Redis order is creation order.
 */

// Shared by the writing scripts: drop notifications and everything that refers to them.
// `k` is one user's keys (KEYS of a per-user script), its first four the notifications'.
const LUA_HELPERS = `
local function drop(k, ids)
  for i = 1, #ids, 500 do
    local chunk = {unpack(ids, i, math.min(i + 499, #ids))}
    redis.call('ZREM', k[1], unpack(chunk))
    redis.call('ZREM', k[2], unpack(chunk))
    redis.call('HDEL', k[3], unpack(chunk))
    redis.call('HDEL', k[4], unpack(chunk))
  end
end
local function expire_old(k, cutoff)
  drop(k, redis.call('ZRANGEBYSCORE', k[1], '-inf', '(' .. cutoff))
end
`;

/**
 * One user's add. `k`: the user's four keys, the user's presence connections
 * (`presence:{u}:conns`, same hash tag), the webhook outbox (or the user's first key when
 * there is none: never written), [idempotency key]. Returns {id, 0, undelivered} for a new
 * notification (undelivered 1 when the user had no connection and the outbox wants
 * `notification.undelivered`: the webhook is written in the same step), or {id, 1, json} when
 * the key already created one for this user (json false when it was dropped since): the
 * key and the insert are one step, so a crash between them cannot happen.
 */
const ADD_ONE = `
local function add_one(k, now, ttl, limit, json, idem_ttl, spec, user_id)
  if k[7] then
    local prior = redis.call('GET', k[7])
    if prior then return {prior, 1, redis.call('HGET', k[3], prior)} end
  end
  expire_old(k, string.format('%.0f', now - ttl))
  -- Never below the newest id: ordering stays exact within a millisecond and when a
  -- clock steps back (another instance, NTP).
  local ms, seq = now, 0
  local newest = redis.call('ZREVRANGE', k[1], 0, 0)[1]
  if newest then
    local lms, lseq = string.match(newest, '^(%d+)-(%d+)$')
    lms, lseq = tonumber(lms), tonumber(lseq)
    if lms >= ms then
      ms, seq = lms, lseq + 1
      if seq > ${MAX_SEQ} then ms, seq = ms + 1, 0 end
    end
  end
  local score = string.format('%.0f', ms)
  local id = score .. '-' .. string.format('%0${SEQ_DIGITS}d', seq)
  redis.call('ZADD', k[1], score, id)
  redis.call('ZADD', k[2], score, id)
  redis.call('HSET', k[3], id, json)
  local excess = redis.call('ZCARD', k[1]) - limit
  if excess > 0 then drop(k, redis.call('ZRANGE', k[1], 0, excess - 1)) end
  -- A user's keys live as long as their newest notification may. The read-state hash is
  -- extended when something is read (READ_LUA): what it describes was created before that.
  for i = 1, 3 do redis.call('PEXPIRE', k[i], ttl) end
  if k[7] then redis.call('SET', k[7], id, 'PX', idem_ttl) end
  local undelivered = 0
  -- Whether the user was online matters only to a wanted notification.undelivered webhook.
  if string.find(spec, ' notification.undelivered ', 1, true) and redis.call('EXISTS', k[5]) == 0 then
    undelivered = 1
    ob_emit(k[6], spec, 'notification.undelivered', '{"userId":' .. cjson.encode(user_id) ..
      ',"notification":{"id":"' .. id .. '","createdAt":' .. score .. ',' .. string.sub(json, 2) .. '}')
  end
  return {id, 0, undelivered}
end
`;

/**
 * KEYS: add_one's keys for one user. ARGV: now, ttlMs, limit, content JSON, idempotency
 * TTL ms, outbox spec (outbox.lua.ts), userId. Returns add_one's reply.
 */
export const ADD_LUA = `${LUA_HELPERS}
${LUA_OUTBOX}
${ADD_ONE}
return add_one(KEYS, tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], ARGV[7])
`;

/**
 * Several users in one script, where every key may be touched together (standalone and
 * Sentinel Redis, not a Cluster): the content is sent once and Redis runs one script
 * instead of one per user. KEYS: each user's add_one keys in turn, ARGV[7] of them per user
 * (6, or 7 with the idempotency key). ARGV: now, ttlMs, limit, content JSON, idempotency
 * TTL ms, outbox spec, keys per user, then the users' ids in order. Returns one add_one
 * reply per user, in order.
 */
export const ADD_MANY_LUA = `${LUA_HELPERS}
${LUA_OUTBOX}
${ADD_ONE}
local per = tonumber(ARGV[7])
local now, ttl, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for b = 0, #KEYS - per, per do
  out[#out + 1] = add_one({unpack(KEYS, b + 1, b + per)}, now, ttl, limit, ARGV[4], ARGV[5], ARGV[6],
    ARGV[8 + b / per])
end
return out
`;

/**
 * ARGV: cutoff (oldest live score), limit, before ms ('' for none), before seq,
 * unreadOnly ('1'/'0'). Read-only: expired entries are skipped here, dropped by writes.
 * Returns {unreadCount, hasMore, {id, json, readAt, ...}}.
 */
export const LIST_LUA = `
local cutoff = ARGV[1]
local limit = tonumber(ARGV[2])
local bms, bseq = tonumber(ARGV[3]), tonumber(ARGV[4])
local source = ARGV[5] == '1' and KEYS[2] or KEYS[1]
local max = bms and string.format('%.0f', bms) or '+inf'
local want = limit + 1
local ids, offset = {}, 0
while #ids < want do
  local batch = redis.call('ZREVRANGEBYSCORE', source, max, cutoff, 'LIMIT', offset, want)
  for _, id in ipairs(batch) do
    local ms, seq = string.match(id, '^(%d+)-(%d+)$')
    -- Only entries of the cursor's own millisecond can be at or after it.
    if not bms or tonumber(ms) < bms or tonumber(seq) < bseq then
      ids[#ids + 1] = id
      if #ids == want then break end
    end
  end
  if #batch < want then break end
  offset = offset + #batch
end
local has_more = 0
if #ids > limit then
  has_more = 1
  ids[#ids] = nil
end
local out = {}
if #ids > 0 then
  local jsons = redis.call('HMGET', KEYS[3], unpack(ids))
  local read_at = redis.call('HMGET', KEYS[4], unpack(ids))
  for i, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = jsons[i]
    out[#out + 1] = read_at[i]
  end
end
return {redis.call('ZCOUNT', KEYS[2], cutoff, '+inf'), has_more, out}
`;

/** ARGV: now, ttlMs, 'all' | 'ids', ids... Returns the unread count. */
export const READ_LUA = `${LUA_HELPERS}
local now = ARGV[1]
expire_old(KEYS, string.format('%.0f', tonumber(now) - tonumber(ARGV[2])))
local read = {}
if ARGV[3] == 'all' then
  read = redis.call('ZRANGE', KEYS[2], 0, -1)
  redis.call('DEL', KEYS[2])
else
  for i = 4, #ARGV do
    if redis.call('ZREM', KEYS[2], ARGV[i]) == 1 then read[#read + 1] = ARGV[i] end
  end
end
for i = 1, #read, 500 do
  local args = {}
  for j = i, math.min(i + 499, #read) do
    args[#args + 1] = read[j]
    args[#args + 1] = now
  end
  redis.call('HSET', KEYS[4], unpack(args))
end
-- Everything read was created by now, so expires within ttlMs from now: the read state
-- lasts as long as what it describes (adds do not extend it).
if #read > 0 then redis.call('PEXPIRE', KEYS[4], ARGV[2]) end
return redis.call('ZCARD', KEYS[2])
`;
