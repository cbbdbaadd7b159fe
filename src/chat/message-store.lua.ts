import { LUA_RATE_LIMIT } from "../infra/rate-limit-script.js";
import { LUA_OUTBOX } from "../webhooks/outbox.lua.js";

/**
 * The Lua of the Redis message store (`message-store-redis.ts`). Every script's first
 * three keys are the room's stream, head and read positions:
 *
 *   chat:{room}:messages   STREAM  entry id `<seq>-0`, fields u=<senderId> t=<ms> m=<body json>
 *   chat:{room}:meta       HASH    epoch, seq (the last assigned), ms (the last id's time)
 *   chat:{room}:reads      HASH    userId -> last read message id
 *
 * Times come from Redis' own clock (TIME), so instances with skewed clocks still agree.
 */

const LUA_LOG = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(n) return string.format('%d', n) end
local function field(entry, name)
  local f = entry[2]
  for i = 1, #f, 2 do
    if f[i] == name then return f[i + 1] end
  end
  return nil
end
local function seq_of(id) return tonumber(string.match(id, '^(%d+)-')) end
-- The room's epoch, last seq and last ms. A log without its head belongs to a lost epoch
-- (or an older format): it is dropped and a new epoch starts with the candidate.
local function head(candidate, retention)
  local h = redis.call('HMGET', KEYS[2], 'epoch', 'seq', 'ms')
  if h[1] then return h[1], tonumber(h[2]), tonumber(h[3]) end
  redis.call('DEL', KEYS[1], KEYS[3])
  redis.call('HSET', KEYS[2], 'epoch', candidate, 'seq', 0, 'ms', 0)
  if retention > 0 then redis.call('PEXPIRE', KEYS[2], retention) end
  return candidate, 0, 0
end
`;

/**
 * KEYS: stream, meta, reads, the webhook outbox (or the meta key when there is none: never
 *       written), the sender's rate-limit counters (none or more), [idempotency key].
 * ARGV: senderId, body json, maxlen, retentionMs, idempotencyTtlSec, candidate epoch,
 *       publish command (PUBLISH | SPUBLISH), channel, outbox spec (outbox.lua.ts), roomId,
 *       then the rate limit's arguments (ScriptLimit in infra/rate-limit-script.ts).
 * Appends at seq + 1 and publishes the message on the room's channel in the same step,
 * so subscribers receive the room's messages in log order and nothing is stored without
 * being published; its `chat.message.created` webhook is written in the same step. A repeated clientMsgId of this epoch publishes the original again.
 * Returns {1, payload} when stored, {0, payload} for a repeat, or the rate limit's refusal
 * (nothing stored). The payload: {"e":epoch,"s":seq,"t":ms,"u":sender,"m":body}.
 */
export const APPEND_LUA = `
${LUA_RATE_LIMIT}
${LUA_LOG}
${LUA_OUTBOX}
local refusal, limit_keys = rl_consume(5, 11)
if refusal then return refusal end
local retention = tonumber(ARGV[4])
local epoch, seq, last_ms = head(ARGV[6], retention)
local idem = KEYS[5 + limit_keys]
if idem then
  local prior = redis.call('GET', idem)
  if prior and string.sub(prior, 1, #epoch + 7) == '{"e":"' .. epoch .. '"' then
    redis.call(ARGV[7], ARGV[8], prior)
    return {0, prior}
  end
end
local now = now_ms()
local ms = math.max(now, last_ms)
seq = seq + 1
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], int(seq) .. '-0', 'u', ARGV[1], 't', int(ms), 'm', ARGV[2])
redis.call('HSET', KEYS[2], 'seq', int(seq), 'ms', int(ms))
if retention > 0 then
  -- Trim what expired, a bounded batch per append (the newest entry is never expired).
  local cutoff = now - retention
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 100)
  local keep = nil
  for i = 1, #oldest do
    if tonumber(field(oldest[i], 't')) >= cutoff then keep = oldest[i][1] break end
  end
  if keep == nil and #oldest > 0 then keep = int(seq_of(oldest[#oldest][1]) + 1) .. '-0' end
  if keep then redis.call('XTRIM', KEYS[1], 'MINID', keep) end
  redis.call('PEXPIRE', KEYS[1], retention)
  redis.call('PEXPIRE', KEYS[2], retention)
end
local payload = '{"e":' .. cjson.encode(epoch) .. ',"s":' .. int(seq) .. ',"t":' .. int(ms) ..
  ',"u":' .. cjson.encode(ARGV[1]) .. ',"m":' .. ARGV[2] .. '}'
redis.call(ARGV[7], ARGV[8], payload)
if idem then redis.call('SET', idem, payload, 'EX', ARGV[5]) end
ob_emit(KEYS[4], ARGV[9], 'chat.message.created', '{"roomId":' .. cjson.encode(ARGV[10]) .. ',"p":' .. payload .. '}')
return {1, payload}
`;

/**
 * KEYS: stream, meta, reads. ARGV: mode, a, b, limit, candidate epoch, retentionMs.
 * Returns {epoch, seq, entries} with the log's head read in the same step as the entries:
 * - head:   no entries;
 * - latest: the newest limit + 1, newest first;
 * - from:   from seq a (inclusive) onwards, limit + 2 (the cursor's own entry when retained);
 * - range:  b >= 0: after seq b, oldest first; otherwise newest first; below seq a when a >= 0;
 *           limit + 1;
 * - fence:  no entries; the last seq is raised to a when it is below.
 */
export const READ_LUA = `
${LUA_LOG}
local epoch, seq = head(ARGV[5], tonumber(ARGV[6]))
local mode, a, b, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local entries = {}
if mode == 'fence' then
  if seq < a then
    seq = a
    redis.call('HSET', KEYS[2], 'seq', int(a))
  end
elseif mode == 'latest' then
  entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', limit + 1)
elseif mode == 'from' then
  entries = redis.call('XRANGE', KEYS[1], int(a) .. '-0', '+', 'COUNT', limit + 2)
elseif mode == 'range' then
  local upper = a >= 0 and ('(' .. int(a) .. '-0') or '+'
  if b >= 0 then
    entries = redis.call('XRANGE', KEYS[1], '(' .. int(b) .. '-0', upper, 'COUNT', limit + 1)
  else
    entries = redis.call('XREVRANGE', KEYS[1], upper, '-', 'COUNT', limit + 1)
  end
end
return {epoch, int(seq), entries}
`;

const LUA_COMPARE_IDS = `
local function cmp(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if #am ~= #bm then return #am < #bm and -1 or 1 end
  if am ~= bm then return am < bm and -1 or 1 end
  if #as ~= #bs then return #as < #bs and -1 or 1 end
  if as ~= bs then return as < bs and -1 or 1 end
  return 0
end
`;

/** KEYS: stream, meta, reads. ARGV: userId, messageId, retentionMs. Returns {position, moved} or nil. */
export const MARK_READ_LUA = `
${LUA_LOG}
${LUA_COMPARE_IDS}
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if not newest then return false end
local newest_id = field(newest, 't') .. '-' .. int(seq_of(newest[1]))
local target = ARGV[2]
if cmp(target, newest_id) > 0 then target = newest_id end
local current = redis.call('HGET', KEYS[3], ARGV[1])
if current and cmp(current, target) >= 0 then return {current, 0} end
redis.call('HSET', KEYS[3], ARGV[1], target)
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
return {target, 1}
`;

/**
 * KEYS: stream, meta, reads. ARGV: userId, cap. Counts, newest first and over at most
 * `cap` entries, the messages after the read position (by its seq) that others sent. In
 * batches so a room of long messages never loads `cap` of them at once.
 */
export const READ_STATE_LUA = `
local last = redis.call('HGET', KEYS[3], ARGV[1])
local cap = tonumber(ARGV[2])
local lower = last and ('(' .. string.match(last, '-(%d+)$') .. '-0') or '-'
local upper = '+'
local unread, scanned = 0, 0
while scanned < cap do
  local n = math.min(200, cap - scanned)
  local batch = redis.call('XREVRANGE', KEYS[1], upper, lower, 'COUNT', n)
  for i = 1, #batch do
    local fields = batch[i][2]
    for j = 1, #fields, 2 do
      if fields[j] == 'u' then
        if fields[j + 1] ~= ARGV[1] then unread = unread + 1 end
        break
      end
    end
  end
  scanned = scanned + #batch
  if #batch < n then break end
  upper = '(' .. batch[#batch][1]
end
return {last or false, unread}
`;
