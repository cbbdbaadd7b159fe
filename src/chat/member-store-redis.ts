import { randomBytes } from "node:crypto";
import type { RedisClient } from "../infra/redis.js";
import { defineScript } from "../infra/redis-script.js";
import { roomKey } from "./keys.js";
import { MEMBERS_LUA } from "./member-store.lua.js";
import type { MemberChange, MemberStore, RefreshResult } from "./store.js";

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
  const membersScript = defineScript(redis, {
    name: "chatMembers",
    lua: MEMBERS_LUA,
    keys: 2,
    decode: (r) => r as [stale: number, changes: string[], online: string[]],
  });
  // A process restarted under the same INSTANCE_ID must not inherit its predecessor's entries.
  const leaseId = `${options.instanceId.replace(/\s/g, "_")}#${randomBytes(6).toString("hex")}`;

  const run = async (
    roomId: string,
    mode: "update" | "refresh" | "full",
    withOnline: boolean,
    pairs: (string | number)[],
  ): Promise<RefreshResult & { online: string[] }> => {
    const [stale, flat, online] = await membersScript(
      [roomKey(keyPrefix, roomId, "members"), roomKey(keyPrefix, roomId, "leases")],
      [leaseId, ttlMs, mode, withOnline ? "1" : "0", ...pairs],
    );
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
