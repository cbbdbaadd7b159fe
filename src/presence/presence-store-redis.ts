import type { Cluster, Redis } from "ioredis";
import type { PresenceState, PresenceStatus } from "../protocol/index.js";
import {
  type PresenceStore,
  type PresenceStoreOptions,
  type PresenceUpdate,
  presenceState,
} from "./store.js";

/**
 * Keys (P = REDIS_KEY_PREFIX). The two keys of a user share the hash tag `{userId}`:
 * every per-user script touches only those, so they stay atomic on Redis Cluster. The
 * global indexes share `{presence}`; a registration's set is on its own.
 *
 * - P presence:{<userId>}:conns       hash  `<instance>/<socketId>` → connected at (ms); gone when empty
 * - P presence:{<userId>}:state       hash  online, status, text, lastSeen, offlineAt; no TTL while
 *                                           online, `retentionMs` once offline
 * - P presence:instance:{<instance>}:conns  set  `<socketId>/<userId>` of one registration
 * - P {presence}:instances            zset  registration → last heartbeat (ms)
 * - P {presence}:dead                 zset  registrations declared dead, still being cleaned → last heartbeat
 * - P {presence}:pending              zset  userId → when their grace ends (ms)
 *
 * The global indexes are written before and cleaned after the per-user state they point
 * to, so a crash between the two steps leaves at most a stale index entry, which the
 * sweepers drop, never per-user state that nothing points to.
 */
export function presenceKeys(prefix: string) {
  return {
    conns: (userId: string) => `${prefix}presence:{${userId}}:conns`,
    state: (userId: string) => `${prefix}presence:{${userId}}:state`,
    instanceConns: (instance: string) => `${prefix}presence:instance:{${instance}}:conns`,
    instances: `${prefix}{presence}:instances`,
    dead: `${prefix}{presence}:dead`,
    pending: `${prefix}{presence}:pending`,
  };
}

// Per-user scripts: KEYS[1] = conns, KEYS[2] = state. The reply is
// {changed, removed, status, text, lastSeen, devices, offlineAt}.
const USER_LIB = `
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
end
`;

const SCRIPTS = {
  // ARGV: now, field, max (0: no cap). changed = -1: refused, the user holds max connections.
  presenceConnect: `${USER_LIB}
local max = tonumber(ARGV[3])
if max > 0 and redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 and redis.call('HLEN', KEYS[1]) >= max then
  return reply(-1, 0)
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], 'lastSeen', ARGV[1])
local changed = 0
if redis.call('HGET', KEYS[2], 'online') ~= '1' then changed = 1 end
goOnline()
return reply(changed, 0)`,

  // ARGV: now, field, lastSeen, offlineAt, retentionMs
  presenceDisconnect: `${USER_LIB}
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
return reply(1, 1)`,

  // ARGV: now, retentionMs
  presenceSettle: `${USER_LIB}
local at = redis.call('HGET', KEYS[2], 'offlineAt')
if not at then return reply(0, 0) end
if redis.call('HLEN', KEYS[1]) > 0 then
  redis.call('HDEL', KEYS[2], 'offlineAt')
  return reply(0, 0)
end
if tonumber(at) > tonumber(ARGV[1]) then return reply(0, 0) end
goOffline(ARGV[2])
return reply(1, 0)`,

  // ARGV: now, status, text ('' for none)
  presenceSetStatus: `${USER_LIB}
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
  changed = 1
end
return reply(changed, 0)`,

  presenceRead: `${USER_LIB}
return reply(0, 0)`,

  // KEYS[1] = instances. ARGV: now, instance
  presenceHeartbeat: `
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0`,

  // KEYS[1] = instances, KEYS[2] = dead. ARGV: staleBefore (exclusive), limit.
  // Moves stale registrations to \`dead\` (so their heartbeat now fails and they re-register)
  // and returns every dead one still to clean, including those another reaper started on.
  presenceClaimDead: `
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
for i = 1, #stale, 2 do
  redis.call('ZADD', KEYS[2], stale[i + 1], stale[i])
  redis.call('ZREM', KEYS[1], stale[i])
end
return redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')`,

  // KEYS[1] = a zset. ARGV: member, score. Removes the member only if a newer write did not move it.
  presenceZremIfScore: `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0`,
} as const;

type ScriptName = keyof typeof SCRIPTS;
type UserReply = [number, number, string, string, string, number, string];
type ScriptClient = Record<ScriptName, (...args: (string | number)[]) => Promise<unknown>>;

const KEY_COUNT: Record<ScriptName, number> = {
  presenceConnect: 2,
  presenceDisconnect: 2,
  presenceSettle: 2,
  presenceSetStatus: 2,
  presenceRead: 2,
  presenceHeartbeat: 1,
  presenceClaimDead: 2,
  presenceZremIfScore: 1,
};

/** Registrations cleaned per reap, and connections per batch: bounds one sweep's work. */
const REAP_INSTANCES = 50;
const SCAN_COUNT = 500;

export interface RedisPresenceStoreOptions extends PresenceStoreOptions {
  /** A Cluster works too: every script's keys share a hash tag. */
  redis: Redis | Cluster;
  keyPrefix: string;
}

export function createRedisPresenceStore(options: RedisPresenceStoreOptions): PresenceStore {
  const { redis, graceMs, retentionMs } = options;
  const keys = presenceKeys(options.keyPrefix);
  for (const [name, lua] of Object.entries(SCRIPTS)) {
    // Idempotent: ioredis keeps one definition per name, and the Lua is the same for every store.
    redis.defineCommand(name, { numberOfKeys: KEY_COUNT[name as ScriptName], lua });
  }
  const scripts = redis as unknown as ScriptClient;

  const userScript = async (
    name: ScriptName,
    userId: string,
    ...args: (string | number)[]
  ): Promise<PresenceUpdate & { removed: boolean; refused?: true }> => {
    const r = (await scripts[name](keys.conns(userId), keys.state(userId), ...args)) as UserReply;
    const update: PresenceUpdate & { removed: boolean; refused?: true } = {
      state: presenceState(userId, r[2] as PresenceStatus, r[3] || undefined, Number(r[4]), Number(r[5])),
      changed: Number(r[0]) === 1,
      removed: Number(r[1]) === 1,
    };
    if (Number(r[0]) === -1) update.refused = true;
    if (r[6]) update.offlineAt = Number(r[6]);
    return update;
  };

  const withoutRemoved = ({
    removed: _,
    refused: __,
    ...update
  }: PresenceUpdate & { removed: boolean; refused?: true }): PresenceUpdate => update;

  const store: PresenceStore = {
    async registerInstance(instance, now) {
      await redis.zadd(keys.instances, now, instance);
    },

    async heartbeat(instance, now) {
      return Number(await scripts.presenceHeartbeat(keys.instances, now, instance)) === 1;
    },

    async unregisterInstance(instance) {
      await redis.del(keys.instanceConns(instance));
      await redis.zrem(keys.instances, instance);
    },

    async connect(conn, now) {
      await redis.sadd(keys.instanceConns(conn.instance), `${conn.socketId}/${conn.userId}`);
      return withoutRemoved(
        await userScript("presenceConnect", conn.userId, now, `${conn.instance}/${conn.socketId}`, 0),
      );
    },

    async connectWithin(conn, now, max) {
      const member = `${conn.socketId}/${conn.userId}`;
      // Sent together, one round trip on the handshake's path; the index entry still goes
      // first on the connection, so a crash never leaves a counted connection nobody reaps.
      const [, update] = await Promise.all([
        redis.sadd(keys.instanceConns(conn.instance), member),
        userScript("presenceConnect", conn.userId, now, `${conn.instance}/${conn.socketId}`, max),
      ]);
      if (!update.refused) return withoutRemoved(update);
      await redis.srem(keys.instanceConns(conn.instance), member);
      return undefined;
    },

    async disconnect(conn, { now, lastSeen }) {
      const offlineAt = lastSeen + graceMs;
      if (offlineAt > now) await redis.zadd(keys.pending, offlineAt, conn.userId);
      const result = await userScript(
        "presenceDisconnect",
        conn.userId,
        now,
        `${conn.instance}/${conn.socketId}`,
        lastSeen,
        offlineAt,
        retentionMs,
      );
      await redis.srem(keys.instanceConns(conn.instance), `${conn.socketId}/${conn.userId}`);
      return result;
    },

    async setStatus(userId, status, text, now) {
      return withoutRemoved(await userScript("presenceSetStatus", userId, now, status, text ?? ""));
    },

    async get(userIds) {
      // One script per user (cluster-safe); auto-pipelining sends them in one round trip.
      const updates = await Promise.all(userIds.map((id) => userScript("presenceRead", id)));
      return updates.map((u) => u.state);
    },

    async settle(userId, now) {
      return withoutRemoved(await userScript("presenceSettle", userId, now, retentionMs));
    },

    async settleDue(now, limit) {
      const due = await redis.zrangebyscore(keys.pending, "-inf", now, "WITHSCORES", "LIMIT", 0, limit);
      const changes: PresenceState[] = [];
      await Promise.all(
        pairs(due).map(async ([userId, score]) => {
          const { state, changed, offlineAt } = await store.settle(userId, now);
          if (changed) changes.push(state);
          // Still pending means a later disconnect re-armed it (and moved the index entry).
          if (offlineAt === undefined) await scripts.presenceZremIfScore(keys.pending, userId, score);
        }),
      );
      return changes;
    },

    async reap(staleBefore, now) {
      const dead = pairs(
        (await scripts.presenceClaimDead(keys.instances, keys.dead, staleBefore, REAP_INSTANCES)) as string[],
      );
      const changes: PresenceState[] = [];
      for (const [instance, lastBeatText] of dead) {
        const lastSeen = Number(lastBeatText);
        const setKey = keys.instanceConns(instance);
        let cursor = "0";
        do {
          const [next, members] = await redis.sscan(setKey, cursor, "COUNT", SCAN_COUNT);
          cursor = next;
          await Promise.all(
            members.map(async (member) => {
              const slash = member.indexOf("/");
              const conn = { instance, socketId: member.slice(0, slash), userId: member.slice(slash + 1) };
              const { state, changed } = await store.disconnect(conn, { now, lastSeen });
              if (changed) changes.push(state);
            }),
          );
        } while (cursor !== "0");
        // Another reaper may still be scanning; whoever sees the set empty closes the record.
        if ((await redis.scard(setKey)) === 0) await redis.zrem(keys.dead, instance);
      }
      return changes;
    },
  };
  return store;
}

/** `[member, score, member, score…]` → `[[member, score]…]`. */
function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}
