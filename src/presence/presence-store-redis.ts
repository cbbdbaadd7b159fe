import type { RedisClient } from "../infra/redis.js";
import { defineScript } from "../infra/redis-script.js";
import { reapIndex } from "../instances/reap-index.js";
import type { PresenceState, PresenceStatus } from "../protocol/index.js";
import {
  CONNECT_LUA,
  DISCONNECT_LUA,
  READ_LUA,
  SET_STATUS_LUA,
  SETTLE_LUA,
  ZREM_IF_SCORE_LUA,
} from "./presence-store.lua.js";
import {
  type PresenceStore,
  type PresenceStoreOptions,
  type PresenceUpdate,
  presenceState,
} from "./store.js";

/**
 * Keys (P = REDIS_KEY_PREFIX). The two keys of a user share the hash tag `{userId}`:
 * every per-user script touches only those, so they stay atomic on Redis Cluster. A
 * registration's set is on its own; the grace index is `{presence}`'s. (The
 * registrations themselves are the instance registry's: src/instances.)
 *
 * - P presence:{<userId>}:conns       hash  `<instance>/<socketId>` → connected at (ms); gone when empty
 * - P presence:{<userId>}:state       hash  online, status, text, lastSeen, offlineAt; no TTL while
 *                                           online, `retentionMs` once offline
 * - P presence:instance:{<instance>}:conns  set  `<socketId>/<userId>` of one registration; gone when empty
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
    pending: `${prefix}{presence}:pending`,
  };
}

/** What a per-user script answers (`presence-store.lua.ts`), before the user id is added. */
interface UserReply {
  /** 1: this call made a visible change; -1: refused (the user holds the maximum). */
  changed: number;
  removed: boolean;
  status: PresenceStatus;
  text: string | undefined;
  lastSeen: number;
  devices: number;
  offlineAt: number | undefined;
}

function decodeUserReply(reply: unknown): UserReply {
  const [changed, removed, status, text, lastSeen, devices, offlineAt] = reply as [
    number,
    number,
    string,
    string,
    string,
    number,
    string,
  ];
  return {
    changed: Number(changed),
    removed: Number(removed) === 1,
    status: status as PresenceStatus,
    text: text || undefined,
    lastSeen: Number(lastSeen),
    devices: Number(devices),
    offlineAt: offlineAt ? Number(offlineAt) : undefined,
  };
}

/** Connections per batch while reaping a dead registration: bounds one step's work. */
const SCAN_COUNT = 500;

export interface RedisPresenceStoreOptions extends PresenceStoreOptions {
  /** A Cluster works too: every script's keys share a hash tag. */
  redis: RedisClient;
  keyPrefix: string;
}

export function createRedisPresenceStore(options: RedisPresenceStoreOptions): PresenceStore {
  const { redis, graceMs, retentionMs } = options;
  const keys = presenceKeys(options.keyPrefix);
  // Idempotent: ioredis keeps one definition per name, and the Lua is the same for every store.
  const userScript = (name: string, lua: string) =>
    defineScript(redis, { name, lua, keys: 3, decode: decodeUserReply });
  const outbox = options.outbox;
  // Without an outbox the scripts get a key of their own slot in its place, never written.
  const outboxArgs = (userId: string) =>
    outbox?.script
      ? { key: outbox.script.key, args: [userId, outbox.script.spec] }
      : { key: keys.state(userId), args: [userId, ""] };
  const userScripts = {
    connect: userScript("presenceConnect", CONNECT_LUA),
    disconnect: userScript("presenceDisconnect", DISCONNECT_LUA),
    settle: userScript("presenceSettle", SETTLE_LUA),
    setStatus: userScript("presenceSetStatus", SET_STATUS_LUA),
    read: userScript("presenceRead", READ_LUA),
  };
  const zremIfScoreScript = defineScript(redis, {
    name: "presenceZremIfScore",
    lua: ZREM_IF_SCORE_LUA,
    keys: 1,
  });

  const runUserScript = async (
    name: keyof typeof userScripts,
    userId: string,
    ...args: (string | number)[]
  ): Promise<PresenceUpdate & { removed: boolean; refused?: true }> => {
    const ob = outboxArgs(userId);
    const r = await userScripts[name](
      [keys.conns(userId), keys.state(userId), ob.key],
      [...args, ...ob.args],
    );
    if (outbox && !outbox.script && r.changed === 1) await appendAfter(name, userId, r);
    const update: PresenceUpdate & { removed: boolean; refused?: true } = {
      state: presenceState(userId, r.status, r.text, r.lastSeen, r.devices),
      changed: r.changed === 1,
      removed: r.removed,
    };
    if (r.changed === -1) update.refused = true;
    if (r.offlineAt !== undefined) update.offlineAt = r.offlineAt;
    return update;
  };

  /**
   * Redis Cluster: the outbox is in another slot, so the entry follows the change in a
   * second command (docs/storage.md). A status change is no transition; the rare healing
   * `setStatus` that brings a user online is not reported there.
   */
  const appendAfter = async (name: keyof typeof userScripts, userId: string, r: UserReply) => {
    if (name === "connect") {
      await outbox?.append("user.online", JSON.stringify({ userId, at: r.lastSeen }));
    } else if ((name === "disconnect" || name === "settle") && r.status === "offline") {
      await outbox?.append("user.offline", JSON.stringify({ userId, lastSeen: r.lastSeen }));
    }
  };

  const withoutRemoved = ({
    removed: _,
    refused: __,
    ...update
  }: PresenceUpdate & { removed: boolean; refused?: true }): PresenceUpdate => update;

  const store: PresenceStore = {
    async connect(conn, now) {
      await redis.sadd(keys.instanceConns(conn.instance), `${conn.socketId}/${conn.userId}`);
      return withoutRemoved(
        await runUserScript("connect", conn.userId, now, `${conn.instance}/${conn.socketId}`, 0),
      );
    },

    async connectWithin(conn, now, max) {
      const member = `${conn.socketId}/${conn.userId}`;
      // Sent together, one round trip on the handshake's path; the index entry still goes
      // first on the connection, so a crash never leaves a counted connection nobody reaps.
      const [, update] = await Promise.all([
        redis.sadd(keys.instanceConns(conn.instance), member),
        runUserScript("connect", conn.userId, now, `${conn.instance}/${conn.socketId}`, max),
      ]);
      if (!update.refused) return withoutRemoved(update);
      await redis.srem(keys.instanceConns(conn.instance), member);
      return undefined;
    },

    async disconnect(conn, { now, lastSeen }) {
      const offlineAt = lastSeen + graceMs;
      if (offlineAt > now) await redis.zadd(keys.pending, offlineAt, conn.userId);
      const result = await runUserScript(
        "disconnect",
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
      return withoutRemoved(await runUserScript("setStatus", userId, now, status, text ?? ""));
    },

    async get(userIds) {
      // One script per user (cluster-safe); auto-pipelining sends them in one round trip.
      const updates = await Promise.all(userIds.map((id) => runUserScript("read", id)));
      return updates.map((u) => u.state);
    },

    async settle(userId, now) {
      return withoutRemoved(await runUserScript("settle", userId, now, retentionMs));
    },

    async settleDue(now, limit) {
      const due = await redis.zrangebyscore(keys.pending, "-inf", now, "WITHSCORES", "LIMIT", 0, limit);
      const changes: PresenceState[] = [];
      await Promise.all(
        pairs(due).map(async ([userId, score]) => {
          const { state, changed, offlineAt } = await store.settle(userId, now);
          if (changed) changes.push(state);
          // Still pending means a later disconnect re-armed it (and moved the index entry).
          if (offlineAt === undefined) await zremIfScoreScript([keys.pending], [userId, score]);
        }),
      );
      return changes;
    },

    connectionCount: (registration) => redis.scard(keys.instanceConns(registration)),

    async reap({ registration: instance, lastBeat: lastSeen }, now) {
      const changes: PresenceState[] = [];
      const done = await reapIndex(redis, keys.instanceConns(instance), SCAN_COUNT, async (member) => {
        const slash = member.indexOf("/");
        const conn = { instance, socketId: member.slice(0, slash), userId: member.slice(slash + 1) };
        const { state, changed } = await store.disconnect(conn, { now, lastSeen });
        if (changed) changes.push(state);
      });
      return { changes, done };
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
