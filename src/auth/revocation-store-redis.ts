import type { RedisClient } from "../infra/redis.js";
import { defineScript } from "../infra/redis-script.js";
import type { RevocationStore } from "./revocation-store.js";
import { REVOKE_LUA } from "./revocation-store.lua.js";

export interface RedisRevocationStoreOptions {
  redis: RedisClient;
  keyPrefix: string;
  now?: () => number;
}

/** The user's key: its own hash tag, so a cluster spreads users over its nodes. */
export const revocationKey = (prefix: string, userId: string): string => `${prefix}auth:revoked:{${userId}}`;

/** Every revocation is announced here (`<beforeMs> <userId>`), for the instances' caches. */
export const revocationChannel = (prefix: string): string => `${prefix}auth:revocations`;

/** `<beforeMs> <userId>` as published by REVOKE_LUA, or undefined for anything else. */
export function parseRevocationMessage(raw: string): { userId: string; beforeMs: number } | undefined {
  const space = raw.indexOf(" ");
  const beforeMs = Number(raw.slice(0, space));
  if (space <= 0 || !Number.isSafeInteger(beforeMs)) return undefined;
  return { beforeMs, userId: raw.slice(space + 1) };
}

export function createRedisRevocationStore(options: RedisRevocationStoreOptions): RevocationStore {
  const { redis, keyPrefix } = options;
  const now = options.now ?? Date.now;
  const revokeScript = defineScript(redis, {
    name: "authRevoke",
    lua: REVOKE_LUA,
    keys: 1,
    decode: (reply) => Number(reply),
  });
  return {
    revoke(userId, beforeMs, keepUntilMs) {
      const keepMs = Math.max(1, Math.ceil(keepUntilMs - now()));
      return revokeScript(
        [revocationKey(keyPrefix, userId)],
        [Math.floor(beforeMs), keepMs, revocationChannel(keyPrefix), userId],
      );
    },
    async get(userId) {
      const value = await redis.get(revocationKey(keyPrefix, userId));
      return value === null ? undefined : Number(value);
    },
  };
}
