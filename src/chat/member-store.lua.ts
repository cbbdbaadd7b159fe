import { LUA_OUTBOX } from "../webhooks/outbox.lua.js";

/**
 * The Lua of the Redis member store (`member-store-redis.ts`): who is in a room, across
 * instances. Both keys carry the room's hash tag, so the script stays in the room's slot:
 *
 *   chat:{room}:members   HASH  "<userId> <registration>" -> that instance's sockets of the user
 *   chat:{room}:holders   HASH  registration -> how many users it holds in the room
 *
 * A registration is an instance's entry in the instance registry. Whether one is alive
 * is the registry's to say (another slot): a dead one's entries stay until it is reaped.
 */

/**
 * KEYS: members, holders, the webhook outbox (or the members key when there is none: never
 * written). ARGV: registration, mode, withOnline ("1"/"0"), outbox spec (outbox.lua.ts),
 * roomId, then userId, count pairs (the registration's socket counts). Modes:
 * - update: set the listed counts (0 removes the user under this registration);
 * - full:   set the listed counts and remove this registration's users not listed;
 * - verify: change nothing;
 * - reap:   remove every entry of the registration (a dead instance's).
 * A user is in the room while any registration holds an entry for them, so a change is
 * reported when the first entry comes or the last one goes, once (the script is atomic).
 * Returns {stale, {userId, event, ...}, {online userIds}, occupancy}: stale when the registration
 * held nothing here before the call (its entries were lost, if it thought it had some);
 * occupancy 1 when the room got its first member, -1 when its last one left (the
 * `room.occupied` / `room.vacated` webhook is written in the same step), 0 otherwise.
 */
export const MEMBERS_LUA = `${LUA_OUTBOX}
local members, holders = KEYS[1], KEYS[2]
local occupied_before = redis.call('HLEN', members) > 0
local self, mode = ARGV[1], ARGV[2]
local changes = {}
local stale = redis.call('HEXISTS', holders, self) == 0

local regs = {}
for _, reg in ipairs(redis.call('HKEYS', holders)) do
  if reg ~= self then regs[#regs + 1] = reg end
end
if mode ~= 'reap' then regs[#regs + 1] = self end

local function present(user)
  for _, reg in ipairs(regs) do
    if redis.call('HEXISTS', members, user .. ' ' .. reg) == 1 then return true end
  end
  return false
end

local function split(field)
  local at = string.find(field, ' ', 1, true)
  if not at then return field, '' end
  return string.sub(field, 1, at - 1), string.sub(field, at + 1)
end

local function change(user, event)
  changes[#changes + 1] = user
  changes[#changes + 1] = event
end

local function set(user, count)
  local before = present(user)
  local field = user .. ' ' .. self
  if count > 0 then
    if redis.call('HSET', members, field, count) == 1 then redis.call('HINCRBY', holders, self, 1) end
  elseif redis.call('HDEL', members, field) == 1 then
    if redis.call('HINCRBY', holders, self, -1) <= 0 then redis.call('HDEL', holders, self) end
  end
  local after = count > 0 or present(user)
  if before ~= after then change(user, after and 'join' or 'leave') end
end

if mode == 'reap' then
  local orphaned = {}
  for _, field in ipairs(redis.call('HKEYS', members)) do
    local user, reg = split(field)
    if reg == self then
      redis.call('HDEL', members, field)
      orphaned[user] = true
    end
  end
  redis.call('HDEL', holders, self)
  for user in pairs(orphaned) do
    if not present(user) then change(user, 'leave') end
  end
else
  local listed = {}
  for i = 6, #ARGV, 2 do
    listed[ARGV[i]] = true
    set(ARGV[i], tonumber(ARGV[i + 1]))
  end
  if mode == 'full' then
    for _, field in ipairs(redis.call('HKEYS', members)) do
      local user, reg = split(field)
      if reg == self and not listed[user] then set(user, 0) end
    end
    -- Counted afresh: a rewrite also mends a count that lost step with the entries.
    local held = 0
    for _, field in ipairs(redis.call('HKEYS', members)) do
      local _, reg = split(field)
      if reg == self then held = held + 1 end
    end
    if held > 0 then redis.call('HSET', holders, self, held) else redis.call('HDEL', holders, self) end
  end
end

local online = {}
if ARGV[3] == '1' then
  local seen = {}
  for _, field in ipairs(redis.call('HKEYS', members)) do
    local user = split(field)
    if not seen[user] then
      seen[user] = true
      online[#online + 1] = user
    end
  end
end
local occupancy = 0
local occupied_after = redis.call('HLEN', members) > 0
if occupied_before ~= occupied_after then
  -- The first member in, or the last one out.
  local want = occupied_after and 'join' or 'leave'
  local who = ''
  for i = 1, #changes, 2 do
    if changes[i + 1] == want then
      who = changes[i]
      if occupied_after then break end
    end
  end
  occupancy = occupied_after and 1 or -1
  ob_emit(KEYS[3], ARGV[4], occupied_after and 'room.occupied' or 'room.vacated',
    '{"roomId":' .. cjson.encode(ARGV[5]) .. ',"userId":' .. cjson.encode(who) .. '}')
end
return {stale and 1 or 0, changes, online, occupancy}
`;
