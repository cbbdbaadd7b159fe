import type { RedisClient } from "../infra/redis.js";
import { roomKey } from "./keys.js";
import { MAX_REMEMBERED_ROOMS, type RoomListStore } from "./room-list-store.js";

/**
 * The room list in Redis:
 *
 *   chat:rooms:{<userId>}     ZSET    roomId -> join time (ms): the user's list
 *   chat:{<room>}:followers   SET     userIds whose lists hold the room
 *   chat:{<room>}:announced   STRING  the room's `chat:room` claim, PX the window
 *
 * The user's list and a room's followers live in different slots, so they are written by
 * separate commands: a crash between them leaves a follower without the room in its list
 * (an announcement too many, dropped by the client) or the reverse (healed by the next join).
 */
export function createRedisRoomListStore(options: {
  redis: RedisClient;
  keyPrefix: string;
  /** 0: kept until forgotten. Otherwise a room's followers expire with its log. */
  retentionMs: number;
}): RoomListStore {
  const { redis, keyPrefix } = options;
  const listKey = (userId: string) => `${keyPrefix}chat:rooms:{${userId}}`;
  const followersKey = (roomId: string) => roomKey(keyPrefix, roomId, "followers");

  const follow = async (userId: string, roomId: string) => {
    await redis.sadd(followersKey(roomId), userId);
    if (options.retentionMs > 0) await redis.pexpire(followersKey(roomId), options.retentionMs);
  };

  return {
    async remember(userId, roomId, at) {
      const [added] = await Promise.all([redis.zadd(listKey(userId), at, roomId), follow(userId, roomId)]);
      // Only a room new to the list can take it over the bound (a rejoin, the usual case, cannot).
      if (Number(added) === 0) return;
      const excess = (await redis.zcard(listKey(userId))) - MAX_REMEMBERED_ROOMS;
      if (excess > 0) {
        const dropped = (await redis.zpopmin(listKey(userId), excess)).filter((_, i) => i % 2 === 0);
        await Promise.all(dropped.map((id) => redis.srem(followersKey(id), userId)));
      }
    },
    async forget(userId, roomId) {
      await redis.zrem(listKey(userId), roomId);
      await redis.srem(followersKey(roomId), userId);
    },
    async rooms(userId) {
      return redis.zrevrange(listKey(userId), 0, -1);
    },
    async followers(roomId) {
      return redis.smembers(followersKey(roomId));
    },
    async claimAnnouncement(roomId, windowMs) {
      const key = roomKey(keyPrefix, roomId, "announced");
      if ((await redis.set(key, "1", "PX", windowMs, "NX")) === "OK") return 0;
      return Math.max(1, await redis.pttl(key));
    },
  };
}
