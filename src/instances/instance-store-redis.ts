import type { RedisClient } from "../infra/redis.js";
import { defineScript } from "../infra/redis-script.js";
import { CLAIM_DEAD_LUA, DECLARE_DEAD_LUA, HEARTBEAT_LUA } from "./instance-store.lua.js";
import type { DeadRegistration, InstanceStore } from "./store.js";

export interface RedisInstanceStoreOptions {
  /** A Cluster works too: both keys share the hash tag `{instances}`. */
  redis: RedisClient;
  keyPrefix: string;
}

/** `[member, score, member, score…]` → dead registrations. */
function deadRegistrations(reply: unknown): DeadRegistration[] {
  const flat = reply as string[];
  const out: DeadRegistration[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    out.push({ registration: flat[i] as string, lastBeat: Number(flat[i + 1]) });
  }
  return out;
}

/** The registrations in two sorted sets (layout and scripts: `instance-store.lua.ts`). */
export function createRedisInstanceStore(options: RedisInstanceStoreOptions): InstanceStore {
  const { redis } = options;
  const live = `${options.keyPrefix}{instances}:live`;
  const dead = `${options.keyPrefix}{instances}:dead`;
  const heartbeatScript = defineScript(redis, {
    name: "instancesHeartbeat",
    lua: HEARTBEAT_LUA,
    keys: 1,
    decode: (reply) => Number(reply) === 1,
  });
  const claimDeadScript = defineScript(redis, {
    name: "instancesClaimDead",
    lua: CLAIM_DEAD_LUA,
    keys: 2,
    decode: deadRegistrations,
  });
  const declareDeadScript = defineScript(redis, {
    name: "instancesDeclareDead",
    lua: DECLARE_DEAD_LUA,
    keys: 2,
  });

  return {
    async register(registration, now) {
      await redis.zadd(live, now, registration);
    },
    heartbeat: (registration, now) => heartbeatScript([live], [now, registration]),
    claimDead: (staleBefore, limit) => claimDeadScript([live, dead], [staleBefore, limit]),
    async declareDead(registration, lastBeat) {
      await declareDeadScript([live, dead], [registration, lastBeat]);
    },
    async forget(registration) {
      await redis.zrem(dead, registration);
    },
    async live() {
      const flat = await redis.zrange(live, "0", "-1", "WITHSCORES");
      const out: { registration: string; lastBeat: number }[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        out.push({ registration: flat[i] as string, lastBeat: Number(flat[i + 1]) });
      }
      return out;
    },
  };
}
