/**
 * The Lua of the webhook outbox. `LUA_OUTBOX` is included by the stores' scripts that
 * cause events (presence, chat, notifications): they add the entry in their own step.
 * The outbox and the dead letters share the hash tag `{webhooks}`.
 *
 * Entry fields: t = event type, d = data (JSON), and after a redelivery w = webhook id,
 * c = the event's time (ms); otherwise both come from the entry's own id.
 */

/**
 * ob_emit(key, spec, type, data): adds the event when `spec` (the wanted types between
 * spaces, '' for none) lists it. The caller passes the outbox key among its KEYS (on a
 * Cluster the stream of its own hash tag, `OutboxWriter.script.key`); with `spec` empty it
 * may pass a key of its own slot instead, never written.
 */
export const LUA_OUTBOX = `
local function ob_emit(key, spec, event, data)
  if spec == '' or not string.find(spec, ' ' .. event .. ' ', 1, true) then return end
  redis.call('XADD', key, '*', 't', event, 'd', data)
end
`;

/**
 * KEYS: outbox, dead. ARGV: group, entry id, webhook id, type, data, createdAt, attempts,
 * last error, dead letters kept (MAXLEN ~). The entry leaves the outbox as it enters the
 * dead letters: one step, so a crash never loses nor doubles it.
 */
export const DEAD_LETTER_LUA = `
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[9], '*', 't', ARGV[4], 'd', ARGV[5], 'w', ARGV[3],
  'c', ARGV[6], 'a', ARGV[7], 'e', ARGV[8])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
`;

/** KEYS: outbox, dead. ARGV: dead letter id. Returns the new outbox id, or false when there is no such dead letter. */
export const REDELIVER_LUA = `
local found = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])[1]
if not found then return false end
local f = {}
for i = 1, #found[2], 2 do f[found[2][i]] = found[2][i + 1] end
local id = redis.call('XADD', KEYS[1], '*', 't', f.t, 'd', f.d, 'w', f.w, 'c', f.c)
redis.call('XDEL', KEYS[2], ARGV[1])
return id
`;

/** KEYS: outbox. ARGV: group, ids. Delivered entries leave the stream at once. */
export const ACK_LUA = `
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
`;

/**
 * KEYS: a per-tag outbox stream (Cluster). ARGV: the ids forwarded to the central outbox.
 * The stream is deleted once empty, in the same step, so no empty stream stays behind a
 * user or room; an entry written meanwhile keeps it.
 */
export const FORWARDED_LUA = `
redis.call('XDEL', KEYS[1], unpack(ARGV))
if redis.call('XLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
return 1
`;

/** KEYS: a lock. ARGV: its holder's token. Released only by its holder (it may have expired and been taken). */
export const UNLOCK_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
