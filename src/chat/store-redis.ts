import { randomBytes } from "node:crypto";
import { LUA_RATE_LIMIT, rateLimited } from "../infra/rate-limit.js";
import type { RedisClient } from "../infra/redis.js";
import { isRedisUnavailableError } from "../infra/redis.js";
import { AppError, type Message } from "../protocol/index.js";
import type {
  AppendResult,
  MarkReadResult,
  MemberChange,
  MemberStore,
  MessagePage,
  MessageStore,
  ReadState,
  RecoveryPage,
  RefreshResult,
} from "./store.js";

/**
 * Redis implementations of the chat stores. Every key of a room carries the room id as
 * a hash tag (`chat:{<roomId>}:…`), so the scripts that touch several of them stay in
 * one Cluster slot:
 *
 *   chat:{room}:messages                  STREAM  u=<senderId> m=<json>; XADD MAXLEN ~ historyLimit
 *   chat:{room}:idem:<userId>|<clientMsgId> STRING  "<id> <json>", EX 24 h
 *   chat:{room}:reads                     HASH    userId -> last read message id
 *   chat:{room}:members                   HASH    "<userId> <leaseId>" -> sockets on that instance
 *   chat:{room}:leases                    ZSET    leaseId -> lease expiry (ms, Redis clock)
 *
 * Times in scripts come from Redis' own clock (TIME), so instances with skewed clocks
 * still agree on lease expiry and retention.
 */

// Room ids never contain a space, `{` or `}` (ROOM_ID_PATTERN), user ids never a space.
const roomKey = (prefix: string, roomId: string, suffix: string) => `${prefix}chat:{${roomId}}:${suffix}`;

const LUA_NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
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

/**
 * KEYS: stream, n rate-limit counters, [idempotency key]. ARGV: senderId, json, maxlen,
 * retentionMs, idempotencyTtlSec, n, then points and durationSec per counter.
 * Returns {1, id} when stored, {0, "<id> <json>"} for a repeated clientMsgId, {-1, ms}
 * when the sender's rate limit refuses it (nothing stored).
 */
const APPEND_LUA = `
${LUA_RATE_LIMIT}
local counters = tonumber(ARGV[6])
if counters > 0 then
  local wait = rl_consume(2, 7, counters)
  if wait then return {-1, wait} end
end
local idem = KEYS[2 + counters]
if idem then
  local prior = redis.call('GET', idem)
  if prior then return {0, prior} end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'u', ARGV[1], 'm', ARGV[2])
local retention = tonumber(ARGV[4])
if retention > 0 then
  ${LUA_NOW}
  redis.call('XTRIM', KEYS[1], 'MINID', '~', tostring(now - retention) .. '-0')
  redis.call('PEXPIRE', KEYS[1], retention)
end
if idem then redis.call('SET', idem, id .. ' ' .. ARGV[2], 'EX', ARGV[5]) end
return {1, id}
`;

/** KEYS: stream, reads. ARGV: userId, messageId, retentionMs. Returns {position, moved} or nil. */
const MARK_READ_LUA = `
${LUA_COMPARE_IDS}
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if not newest then return false end
local target = ARGV[2]
if cmp(target, newest[1]) > 0 then target = newest[1] end
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current and cmp(current, target) >= 0 then return {current, 0} end
redis.call('HSET', KEYS[2], ARGV[1], target)
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return {target, 1}
`;

/**
 * KEYS: stream, reads. ARGV: userId, cap. Counts, newest first and over at most `cap`
 * entries, the messages after the read position that others sent. In batches so a room
 * of long messages never loads `cap` of them at once.
 */
const READ_STATE_LUA = `
local last = redis.call('HGET', KEYS[2], ARGV[1])
local cap = tonumber(ARGV[2])
local lower = last and ('(' .. last) or '-'
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

/**
 * Room membership across instances. KEYS: members, leases.
 * ARGV: leaseId, ttlMs, mode ("update" | "refresh" | "full"), withOnline ("1"/"0"),
 *       then userId, count pairs (this instance's socket counts).
 * A user is in the room while any live lease holds a field for them. Expired leases
 * (dead instances) are reaped here, by whichever instance touches the room first, so
 * each resulting leave is reported exactly once.
 * Returns {stale, {userId, event, ...}, {online userIds} }.
 */
const MEMBERS_LUA = `
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

/** What APPEND_LUA answers: stored, a repeated clientMsgId, or refused by the rate limit. */
type AppendReply = [1, id: string] | [0, prior: string] | [-1, msBeforeNext: number];

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

function script(redis: RedisClient, name: string, lua: string, numberOfKeys?: number): ScriptFn {
  redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
  const fn = (redis as unknown as Record<string, ScriptFn>)[name];
  if (!fn) throw new Error(`script ${name} was not defined`);
  return fn.bind(redis);
}

/** A Redis that cannot be reached is the client's UNAVAILABLE, not an internal error. */
function unavailable(err: unknown): never {
  if (isRedisUnavailableError(err)) throw new AppError("UNAVAILABLE", undefined, { cause: err });
  throw err;
}

interface StoredBody {
  senderName?: string;
  text: string;
  clientMsgId?: string;
  createdAt: number;
}

function toMessage(id: string, roomId: string, senderId: string, json: string): Message {
  const body = JSON.parse(json) as StoredBody;
  return {
    id,
    roomId,
    senderId,
    ...(body.senderName === undefined ? {} : { senderName: body.senderName }),
    text: body.text,
    ...(body.clientMsgId === undefined ? {} : { clientMsgId: body.clientMsgId }),
    createdAt: body.createdAt,
  };
}

type StreamEntry = [id: string, fields: string[]];

function entryToMessage(roomId: string, [id, fields]: StreamEntry): Message {
  let senderId = "";
  let json = "{}";
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === "u") senderId = fields[i + 1] as string;
    else if (fields[i] === "m") json = fields[i + 1] as string;
  }
  return toMessage(id, roomId, senderId, json);
}

const MAX_ID = "18446744073709551615-18446744073709551615";

export interface RedisMessageStoreOptions {
  redis: RedisClient;
  keyPrefix: string;
  historyLimit: number;
  /** 0: no time-based retention. */
  retentionMs: number;
  idempotencyTtlSec: number;
  unreadCap: number;
}

export function createRedisMessageStore(options: RedisMessageStoreOptions): MessageStore {
  const { redis, keyPrefix } = options;
  const appendScript = script(redis, "chatAppend", APPEND_LUA);
  const markReadScript = script(redis, "chatMarkRead", MARK_READ_LUA, 2);
  const readStateScript = script(redis, "chatReadState", READ_STATE_LUA, 2);
  const stream = (roomId: string) => roomKey(keyPrefix, roomId, "messages");
  const reads = (roomId: string) => roomKey(keyPrefix, roomId, "reads");

  const toPage = (
    roomId: string,
    entries: StreamEntry[],
    limit: number,
    newestFirst: boolean,
  ): MessagePage => {
    const hasMore = entries.length > limit;
    const kept = hasMore ? entries.slice(0, limit) : entries;
    if (newestFirst) kept.reverse();
    return { messages: kept.map((e) => entryToMessage(roomId, e)), hasMore };
  };

  return {
    async append(input, limit): Promise<AppendResult> {
      // One round trip for limit and write where the counters can share a script with the
      // room's keys; on a cluster they live in other slots, so the limit goes first there.
      const counters = limit && !redis.isCluster ? limit.limiter.redisCounters?.(limit.key) : undefined;
      if (limit && !counters) await limit.limiter.consume(limit.key);
      const body: StoredBody = { text: input.text, createdAt: input.createdAt };
      if (input.senderName !== undefined) body.senderName = input.senderName;
      if (input.clientMsgId !== undefined) body.clientMsgId = input.clientMsgId;
      const json = JSON.stringify(body);
      const keys = [stream(input.roomId)];
      const limits: number[] = [];
      for (const c of counters ?? []) {
        keys.push(c.key);
        limits.push(c.points, c.durationSec);
      }
      if (input.clientMsgId !== undefined) {
        keys.push(roomKey(keyPrefix, input.roomId, `idem:${input.senderId}|${input.clientMsgId}`));
      }
      const reply = (await appendScript(
        keys.length,
        ...keys,
        input.senderId,
        json,
        options.historyLimit,
        options.retentionMs,
        options.idempotencyTtlSec,
        counters?.length ?? 0,
        ...limits,
      ).catch(unavailable)) as AppendReply;
      if (reply[0] === -1) throw rateLimited(limit?.limiter.name ?? "send", reply[1]);
      const value = reply[1];
      if (reply[0] === 1) {
        const message: Message = {
          id: value,
          roomId: input.roomId,
          senderId: input.senderId,
          ...(input.senderName === undefined ? {} : { senderName: input.senderName }),
          text: input.text,
          ...(input.clientMsgId === undefined ? {} : { clientMsgId: input.clientMsgId }),
          createdAt: input.createdAt,
        };
        return { message, duplicate: false };
      }
      const space = value.indexOf(" ");
      return {
        message: toMessage(value.slice(0, space), input.roomId, input.senderId, value.slice(space + 1)),
        duplicate: true,
      };
    },

    async latest(roomId, limit) {
      const entries = (await redis
        .xrevrange(stream(roomId), "+", "-", "COUNT", limit + 1)
        .catch(unavailable)) as StreamEntry[];
      return toPage(roomId, entries, limit, true);
    },

    async since(roomId, since, limit): Promise<RecoveryPage> {
      // Inclusive start: the first entry is `since` itself exactly when it is still retained.
      const entries = (await redis
        .xrange(stream(roomId), since, "+", "COUNT", limit + 2)
        .catch(unavailable)) as StreamEntry[];
      if (entries[0]?.[0] !== since) return { messages: [], hasMore: false, found: false };
      return { ...toPage(roomId, entries.slice(1), limit, false), found: true };
    },

    async history(roomId, { before, after, limit }) {
      // Exclusive bounds cannot go past the ends of the id space: such pages are empty.
      if (before === "0-0" || after === MAX_ID) return { messages: [], hasMore: false };
      const upper = before === undefined ? "+" : `(${before}`;
      if (after === undefined) {
        const entries = (await redis
          .xrevrange(stream(roomId), upper, "-", "COUNT", limit + 1)
          .catch(unavailable)) as StreamEntry[];
        return toPage(roomId, entries, limit, true);
      }
      const entries = (await redis
        .xrange(stream(roomId), `(${after}`, upper, "COUNT", limit + 1)
        .catch(unavailable)) as StreamEntry[];
      return toPage(roomId, entries, limit, false);
    },

    async markRead(roomId, userId, messageId): Promise<MarkReadResult | undefined> {
      const result = (await markReadScript(
        stream(roomId),
        reads(roomId),
        userId,
        messageId,
        options.retentionMs,
      ).catch(unavailable)) as [string, number] | null;
      if (!result) return undefined;
      return { lastReadId: result[0], moved: result[1] === 1 };
    },

    async readState(roomId, userId): Promise<ReadState> {
      const [lastReadId, unread] = (await readStateScript(
        stream(roomId),
        reads(roomId),
        userId,
        options.unreadCap,
      ).catch(unavailable)) as [string | null, number];
      return { lastReadId, unread };
    },
  };
}

export interface RedisMemberStoreOptions {
  redis: RedisClient;
  keyPrefix: string;
  /** This instance's id (logs, /health): the lease id adds randomness so a restart is a new lease. */
  instanceId: string;
  /** An instance that has not refreshed a room for this long is dead there. */
  ttlMs: number;
}

export function createRedisMemberStore(options: RedisMemberStoreOptions): MemberStore {
  const { redis, keyPrefix, ttlMs } = options;
  const membersScript = script(redis, "chatMembers", MEMBERS_LUA, 2);
  // A process restarted under the same INSTANCE_ID must not inherit its predecessor's entries.
  const leaseId = `${options.instanceId.replace(/\s/g, "_")}#${randomBytes(6).toString("hex")}`;

  const run = async (
    roomId: string,
    mode: "update" | "refresh" | "full",
    withOnline: boolean,
    pairs: (string | number)[],
  ): Promise<RefreshResult & { online: string[] }> => {
    const [stale, flat, online] = (await membersScript(
      roomKey(keyPrefix, roomId, "members"),
      roomKey(keyPrefix, roomId, "leases"),
      leaseId,
      ttlMs,
      mode,
      withOnline ? "1" : "0",
      ...pairs,
    ).catch(unavailable)) as [number, string[], string[]];
    const changes: MemberChange[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      changes.push({ roomId, userId: flat[i] as string, event: flat[i + 1] as MemberChange["event"] });
    }
    return { stale: stale === 1, changes, online };
  };

  return {
    async update(roomId, userId, localSockets, withOnline = false) {
      const { changes, online } = await run(roomId, "update", withOnline, [userId, localSockets]);
      return withOnline ? { changes, online } : { changes };
    },
    async online(roomId) {
      const { changes, online } = await run(roomId, "refresh", true, []);
      return { changes, online };
    },
    async refresh(roomId, local) {
      if (!local) {
        const { changes, stale } = await run(roomId, "refresh", false, []);
        return { changes, stale };
      }
      const pairs: (string | number)[] = [];
      for (const [userId, count] of local) pairs.push(userId, count);
      const { changes, stale } = await run(roomId, "full", false, pairs);
      return { changes, stale };
    },
  };
}
