import { LUA_RATE_LIMIT } from "../infra/rate-limit-script.js";
import { LUA_OUTBOX } from "../webhooks/outbox.lua.js";

/**
 * The Lua of the Redis message store (`message-store-redis.ts`). Every script's first
 * three keys are the room's stream, head and read positions (the reads and changes add
 * the state of changed messages as the fourth):
 *
 *   chat:{room}:messages   STREAM  entry id `<seq>-0`, fields u=<senderId> t=<ms> m=<body json>;
 *                                  a change entry also k=<kind> r=<target seq>
 *   chat:{room}:meta       HASH    epoch, seq (the last assigned), ms (the last id's time)
 *   chat:{room}:reads      HASH    userId -> last read message id
 *   chat:{room}:state      HASH    _e=<epoch the states belong to>, target seq -> state json
 *                                  (MessageState in log-state.ts)
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
-- Trims what expired from the room's stream (KEYS[1]), a bounded batch per write; the
-- newest entry is never expired.
local function trim_expired(retention, now)
  local cutoff = now - retention
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 100)
  local keep = nil
  for i = 1, #oldest do
    if tonumber(field(oldest[i], 't')) >= cutoff then keep = oldest[i][1] break end
  end
  if keep == nil and #oldest > 0 then keep = int(seq_of(oldest[#oldest][1]) + 1) .. '-0' end
  if keep then redis.call('XTRIM', KEYS[1], 'MINID', keep) end
end
`;

/** `states_of(epoch, entries)`: the state json (or false) of each entry's subject. */
const LUA_STATES = `
local function states_of(epoch, entries)
  local out = {}
  if #entries == 0 or redis.call('HGET', KEYS[4], '_e') ~= epoch then
    for i = 1, #entries do out[i] = false end
    return out
  end
  local subjects = {}
  for i = 1, #entries do
    subjects[i] = field(entries[i], 'r') or int(seq_of(entries[i][1]))
  end
  return redis.call('HMGET', KEYS[4], unpack(subjects))
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
  trim_expired(retention, now)
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
 * - fence:  no entries; the last seq is raised to a when it is below;
 * - at:     the entry at seq a (none when it is not retained).
 * The fourth element lists, per entry, the state json of its subject (the entry itself, or
 * a change's target) or false.
 */
export const READ_LUA = `
${LUA_LOG}
${LUA_STATES}
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
elseif mode == 'at' then
  entries = redis.call('XRANGE', KEYS[1], int(a) .. '-0', int(a) .. '-0')
end
return {epoch, int(seq), entries, states_of(epoch, entries)}
`;

/**
 * KEYS: stream, meta, reads, state, [idempotency key].
 * ARGV: userId, body json, maxlen, retentionMs, idempotencyTtlSec, candidate epoch, publish
 *       command, channel, kind (edit | delete | reaction), target seq, target ms, the edit's
 *       text or the reaction's emoji, on (1 | 0), createdAt, the most reaction kinds.
 * Checks the target (a retained message of this epoch with that id), folds the change into
 * its state, appends the change entry at seq + 1 and publishes it, in one step, so the
 * state a read folds in is always the log's own. A repeated clientMsgId publishes the
 * original again. Returns {status, entry payload, target entry, target state json, epoch}:
 * 1 appended, 0 nothing to change (no entry), 2 a repeat; {-1} not a message of the room,
 * {-2} no longer retained, {-3} deleted, {-4} too many reaction kinds.
 */
export const CHANGE_LUA = `
${LUA_LOG}
local retention = tonumber(ARGV[4])
local epoch, seq, last_ms = head(ARGV[6], retention)
local tseq = tonumber(ARGV[10])
local same_epoch = redis.call('HGET', KEYS[4], '_e') == epoch
local target = redis.call('XRANGE', KEYS[1], int(tseq) .. '-0', int(tseq) .. '-0')[1]
if not target then
  if tseq > 0 and tseq <= seq then return {-2} end
  return {-1}
end
if field(target, 't') ~= ARGV[11] or field(target, 'k') then return {-1} end
local st = same_epoch and redis.call('HGET', KEYS[4], int(tseq)) or false
local idem = KEYS[5]
if idem then
  local prior = redis.call('GET', idem)
  if prior and string.sub(prior, 1, #epoch + 7) == '{"e":"' .. epoch .. '"' then
    redis.call(ARGV[7], ARGV[8], prior)
    return {2, prior, target, st, epoch}
  end
end
local s = st and cjson.decode(st) or {}
local kind, user = ARGV[9], ARGV[1]
if s.d then
  if kind == 'delete' then return {0, false, target, st, epoch} end
  return {-3}
end
if kind == 'delete' then
  s = {d = 1}
elseif kind == 'edit' then
  s.x = ARGV[12]
  s.ea = tonumber(ARGV[14])
else
  local rx = s.rx or {}
  local slot, at = nil, nil
  for i = 1, #rx do if rx[i][1] == ARGV[12] then slot = i break end end
  if slot then
    for i = 1, #rx[slot][2] do if rx[slot][2][i] == user then at = i break end end
  end
  local on = ARGV[13] == '1'
  if (at ~= nil) == on then return {0, false, target, st, epoch} end
  if on then
    if not slot then
      if #rx >= tonumber(ARGV[15]) then return {-4} end
      rx[#rx + 1] = {ARGV[12], {}}
      slot = #rx
    end
    local users = rx[slot][2]
    users[#users + 1] = user
  else
    table.remove(rx[slot][2], at)
    if #rx[slot][2] == 0 then table.remove(rx, slot) end
  end
  s.rx = rx
end
local now = now_ms()
local ms = math.max(now, last_ms)
seq = seq + 1
s.v = seq
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], int(seq) .. '-0', 'u', user, 't', int(ms),
  'k', kind, 'r', int(tseq), 'm', ARGV[2])
redis.call('HSET', KEYS[2], 'seq', int(seq), 'ms', int(ms))
if not same_epoch then
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[4], '_e', epoch)
end
local sj = cjson.encode(s)
redis.call('HSET', KEYS[4], int(tseq), sj)
-- States of trimmed messages go once they are twice the history limit (amortized).
if redis.call('HLEN', KEYS[4]) > 2 * tonumber(ARGV[3]) + 1 then
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  local floor = first and seq_of(first[1]) or seq
  for _, k in ipairs(redis.call('HKEYS', KEYS[4])) do
    if k ~= '_e' and tonumber(k) < floor then redis.call('HDEL', KEYS[4], k) end
  end
end
if retention > 0 then
  trim_expired(retention, now)
  redis.call('PEXPIRE', KEYS[1], retention)
  redis.call('PEXPIRE', KEYS[2], retention)
  redis.call('PEXPIRE', KEYS[4], retention)
end
local payload = '{"e":' .. cjson.encode(epoch) .. ',"s":' .. int(seq) .. ',"t":' .. int(ms) ..
  ',"u":' .. cjson.encode(user) .. ',"m":' .. ARGV[2] .. '}'
redis.call(ARGV[7], ARGV[8], payload)
if idem then redis.call('SET', idem, payload, 'EX', ARGV[5]) end
return {1, payload, target, sj, epoch}
`;

/**
 * KEYS: stream, meta, reads, state. ARGV: entries to scan. Returns false when the room has
 * no head (no log); else {epoch, seq, ms, newest message entry or false, its state or false}.
 */
export const SUMMARY_LUA = `
${LUA_LOG}
${LUA_STATES}
local h = redis.call('HMGET', KEYS[2], 'epoch', 'seq', 'ms')
if not h[1] then return false end
-- Newest first, in small batches: the newest entry is a message in the usual case.
local upper, scanned, batch = '+', 0, 4
while scanned < tonumber(ARGV[1]) do
  local entries = redis.call('XREVRANGE', KEYS[1], upper, '-', 'COUNT', batch)
  for i = 1, #entries do
    if not field(entries[i], 'k') then
      local found = {entries[i]}
      return {h[1], h[2], h[3], found, states_of(h[1], found)}
    end
  end
  if #entries < batch then break end
  scanned = scanned + #entries
  upper = '(' .. entries[#entries][1]
  batch = math.min(50, batch * 4)
end
return {h[1], h[2], h[3], false, false}
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
 * `cap` entries, the messages (not changes) after the read position (by its seq) that others sent,
 * and those of them that mention the user. In
 * batches so a room of long messages never loads `cap` of them at once.
 */
export const READ_STATE_LUA = `
local last = redis.call('HGET', KEYS[3], ARGV[1])
local cap = tonumber(ARGV[2])
local lower = last and ('(' .. string.match(last, '-(%d+)$') .. '-0') or '-'
local upper = '+'
local unread, mentions, scanned = 0, 0, 0
while scanned < cap do
  local n = math.min(200, cap - scanned)
  local batch = redis.call('XREVRANGE', KEYS[1], upper, lower, 'COUNT', n)
  for i = 1, #batch do
    local fields = batch[i][2]
    local sender, change, body = nil, false, nil
    for j = 1, #fields, 2 do
      if fields[j] == 'u' then sender = fields[j + 1]
      elseif fields[j] == 'k' then change = true
      elseif fields[j] == 'm' then body = fields[j + 1] end
    end
    -- Changes (edits, deletes, reactions) are not unread messages.
    if not change and sender ~= ARGV[1] then
      unread = unread + 1
      -- Only a body that has mentions is decoded.
      if body and string.find(body, '"mentions":', 1, true) then
        local m = cjson.decode(body).mentions
        if type(m) == 'table' then
          for k = 1, #m do
            if m[k] == ARGV[1] then mentions = mentions + 1 break end
          end
        end
      end
    end
  end
  scanned = scanned + #batch
  if #batch < n then break end
  upper = '(' .. batch[#batch][1]
end
return {last or false, unread, mentions}
`;
