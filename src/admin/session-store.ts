import type { RedisClient } from "../infra/redis.js";

/** What `instrument()` asks of its session store. */
export interface AdminSessionStore {
  doesSessionExist(sessionId: string): Promise<boolean>;
  saveSession(sessionId: string): void;
}

/**
 * Admin UI sessions, shared by every instance through Redis: the UI reconnects with its
 * session id, possibly to another instance behind the load balancer. Not the package's own
 * RedisStore: its `exec()` is never awaited and its lookup rejects while Redis is down, both
 * unhandled rejections, and `instrument()`'s login middleware does not catch them. Here an
 * unreadable session only falls back to the password. Without Redis, the package's
 * InMemoryStore serves (src/stores.ts).
 */
export function createRedisAdminSessionStore(options: {
  redis: RedisClient;
  keyPrefix: string;
  ttlSec: number;
  onError: (err: Error, what: string) => void;
}): AdminSessionStore {
  const { redis } = options;
  const key = (sessionId: string) => `${options.keyPrefix}admin:session:${sessionId}`;
  return {
    async doesSessionExist(sessionId) {
      try {
        return (await redis.exists(key(sessionId))) === 1;
      } catch (err) {
        options.onError(err as Error, "read session");
        return false;
      }
    },
    saveSession(sessionId) {
      redis.set(key(sessionId), "1", "EX", options.ttlSec).catch((err: Error) => {
        options.onError(err, "save session");
      });
    },
  };
}
