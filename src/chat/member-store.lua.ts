/**
 * The Lua of the Redis member store (`member-store-redis.ts`): room membership across
 * instances, in Redis:
 *
 *   chat:{room}:members   HASH  "<userId> <leaseId>" -> sockets on that instance
 *   chat:{room}:leases    ZSET  leaseId -> lease expiry (ms, Redis clock)
 */

const LUA_NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * Room membership across instances. KEYS: members, leases.
 * ARGV: leaseId, ttlMs, mode ("update" | "refresh" | "full"), withOnline ("1"/"0"),
 *       then userId, count pairs (this instance's socket counts).
 * A user is in the room while any live lease holds a field for them. Expired leases
 * (dead instances) are reaped here, by whichever instance touches the room first, so
 * each resulting leave is reported exactly once.
 * Returns {stale, {userId, event, ...}, {online userIds} }.
 */
export const MEMBERS_LUA = `
${LUA_NOW}
local members, leases = KEYS[1], KEYS[2]
local self, ttl, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local changes = {}

local own = redis.call('ZSCORE', leases, self)
local stale = (not own) or tonumber(own) < now

local dead = {}
local deadCount = 0
for _, lease in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', '(' .. now)) do
  if lease ~= self then
    dead[lease] = true
    deadCount = deadCount + 1
    redis.call('ZREM', leases, lease)
  end
end
redis.call('ZADD', leases, now + ttl, self)
local live = redis.call('ZRANGE', leases, 0, -1)

local function present(user)
  for _, lease in ipairs(live) do
    if redis.call('HEXISTS', members, user .. ' ' .. lease) == 1 then return true end
  end
  return false
end

local function split(field)
  local at = string.find(field, ' ', 1, true)
  if not at then return field, '' end
  return string.sub(field, 1, at - 1), string.sub(field, at + 1)
end

if deadCount > 0 then
  local orphaned = {}
  for _, field in ipairs(redis.call('HKEYS', members)) do
    local user, lease = split(field)
    if dead[lease] then
      redis.call('HDEL', members, field)
      orphaned[user] = true
    end
  end
  for user in pairs(orphaned) do
    if not present(user) then
      changes[#changes + 1] = user
      changes[#changes + 1] = 'leave'
    end
  end
end

local function set(user, count)
  local before = present(user)
  if count > 0 then
    redis.call('HSET', members, user .. ' ' .. self, count)
  else
    redis.call('HDEL', members, user .. ' ' .. self)
  end
  local after = count > 0 or present(user)
  if before ~= after then
    changes[#changes + 1] = user
    changes[#changes + 1] = after and 'join' or 'leave'
  end
end

local listed = {}
for i = 5, #ARGV, 2 do
  listed[ARGV[i]] = true
  set(ARGV[i], tonumber(ARGV[i + 1]))
end
if mode == 'full' then
  for _, field in ipairs(redis.call('HKEYS', members)) do
    local user, lease = split(field)
    if lease == self and not listed[user] then set(user, 0) end
  end
end

redis.call('PEXPIRE', members, ttl * 3)
redis.call('PEXPIRE', leases, ttl * 3)

local online = {}
if ARGV[4] == '1' then
  local isLive = {}
  for _, lease in ipairs(live) do isLive[lease] = true end
  local seen = {}
  for _, field in ipairs(redis.call('HKEYS', members)) do
    local user, lease = split(field)
    if isLive[lease] and not seen[user] then
      seen[user] = true
      online[#online + 1] = user
    end
  end
end
return {stale and 1 or 0, changes, online}
`;
