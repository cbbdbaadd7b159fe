import type { RedisClient } from "../infra/redis.js";
import type { AccessCache } from "./access-cache.js";

/** One key per user and room: `1` allowed, `0` refused, expiring with the backend's ttl. */
export const accessCacheKey = (prefix: string, userId: string, roomId: string): string =>
  `${prefix}room-access:{${userId}}:${roomId}`;

export function createRedisAccessCache(options: { redis: RedisClient; keyPrefix: string }): AccessCache {
  const { redis, keyPrefix } = options;
  return {
    async get(userId, roomId) {
      const value = await redis.get(accessCacheKey(keyPrefix, userId, roomId));
      return value === null ? undefined : value === "1";
    },
    async set(userId, roomId, allow, ttlSec) {
      await redis.set(accessCacheKey(keyPrefix, userId, roomId), allow ? "1" : "0", "EX", ttlSec);
    },
  };
}
