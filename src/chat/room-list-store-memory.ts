import { MAX_REMEMBERED_ROOMS, type RoomListStore } from "./room-list-store.js";

/** The room list in this process (no REDIS_URL): the same contract, lost on restart. */
export function createMemoryRoomListStore(options: { now: () => number }): RoomListStore {
  /** userId -> roomId -> join time; Map order is kept as join order. */
  const lists = new Map<string, Map<string, number>>();
  const followers = new Map<string, Set<string>>();
  const claims = new Map<string, number>();

  const unfollow = (userId: string, roomId: string) => {
    const set = followers.get(roomId);
    set?.delete(userId);
    if (set?.size === 0) followers.delete(roomId);
  };

  return {
    async remember(userId, roomId, at) {
      let list = lists.get(userId);
      if (!list) {
        list = new Map();
        lists.set(userId, list);
      }
      list.delete(roomId);
      list.set(roomId, at);
      let set = followers.get(roomId);
      if (!set) {
        set = new Set();
        followers.set(roomId, set);
      }
      set.add(userId);
      while (list.size > MAX_REMEMBERED_ROOMS) {
        const oldest = list.keys().next().value as string;
        list.delete(oldest);
        unfollow(userId, oldest);
      }
    },
    async forget(userId, roomId) {
      lists.get(userId)?.delete(roomId);
      unfollow(userId, roomId);
    },
    async rooms(userId) {
      return [...(lists.get(userId)?.keys() ?? [])].reverse();
    },
    async followers(roomId) {
      return [...(followers.get(roomId) ?? [])];
    },
    async claimAnnouncement(roomId, windowMs) {
      const now = options.now();
      const until = claims.get(roomId) ?? 0;
      if (until > now) return until - now;
      claims.set(roomId, now + windowMs);
      // Claims only matter within their window: drop the lapsed ones now and then.
      if (claims.size > 10_000) for (const [id, t] of claims) if (t <= now) claims.delete(id);
      return 0;
    },
  };
}
