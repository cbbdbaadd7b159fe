/**
 * The room access hook's answers, per user and room, for as long as the backend said
 * (shared by every instance on Redis). Two implementations held to one contract suite
 * (test/chat/access-cache.contract.test.ts).
 */
export interface AccessCache {
  /** The cached answer, or undefined when there is none (never asked, or expired). */
  get(userId: string, roomId: string): Promise<boolean | undefined>;
  /** `ttlSec` > 0. */
  set(userId: string, roomId: string, allow: boolean, ttlSec: number): Promise<void>;
}

/** Without Redis: this instance's answers, in its memory, bounded. */
export function createMemoryAccessCache(now: () => number = Date.now, maxEntries = 100_000): AccessCache {
  const entries = new Map<string, { allow: boolean; until: number }>();
  const keyOf = (userId: string, roomId: string) => `${userId}\n${roomId}`;
  return {
    async get(userId, roomId) {
      const key = keyOf(userId, roomId);
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.until <= now()) {
        entries.delete(key);
        return undefined;
      }
      return entry.allow;
    },
    async set(userId, roomId, allow, ttlSec) {
      const key = keyOf(userId, roomId);
      entries.delete(key);
      entries.set(key, { allow, until: now() + ttlSec * 1000 });
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    },
  };
}
