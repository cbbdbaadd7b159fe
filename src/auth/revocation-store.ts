/**
 * Where revocations are kept: per user, the time before which their tokens are refused.
 * Two implementations (Redis, in-memory), held to one contract suite
 * (test/auth/revocation-store.contract.test.ts).
 */
export interface RevocationStore {
  /**
   * Tokens of the user issued before `beforeMs` (epoch ms) are refused until `keepUntilMs`.
   * A later revocation never moves the time backwards, nor shortens how long it is kept.
   * Resolves with the time now in force. The Redis store announces it on the revocation
   * channel in the same step.
   */
  revoke(userId: string, beforeMs: number, keepUntilMs: number): Promise<number>;
  /** The time before which the user's tokens are refused, or undefined. */
  get(userId: string): Promise<number | undefined>;
}

/** A single instance's revocations, in its memory (lost on restart, like every memory store). */
export function createMemoryRevocationStore(now: () => number = Date.now): RevocationStore {
  const entries = new Map<string, { beforeMs: number; keepUntilMs: number }>();
  const current = (userId: string) => {
    const entry = entries.get(userId);
    if (entry && entry.keepUntilMs <= now()) {
      entries.delete(userId);
      return undefined;
    }
    return entry;
  };
  return {
    async revoke(userId, beforeMs, keepUntilMs) {
      const prior = current(userId);
      const entry = {
        beforeMs: Math.max(beforeMs, prior?.beforeMs ?? 0),
        keepUntilMs: Math.max(keepUntilMs, prior?.keepUntilMs ?? 0),
      };
      entries.set(userId, entry);
      return entry.beforeMs;
    },
    async get(userId) {
      return current(userId)?.beforeMs;
    },
  };
}
