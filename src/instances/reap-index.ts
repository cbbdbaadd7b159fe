import type { RedisClient } from "../infra/redis.js";

/**
 * Reap a set that lists what a feature holds under one registration (a dead instance's
 * connections, its rooms): every member is handed to `reap`, a batch of about `count` at
 * a time, the members of a batch concurrently. Resolves true when the set is seen empty
 * afterwards: another instance may be reaping the same set, and only an empty set means
 * nothing is left.
 */
export async function reapIndex(
  redis: RedisClient,
  key: string,
  count: number,
  reap: (member: string) => Promise<void>,
): Promise<boolean> {
  let cursor = "0";
  do {
    const [next, members] = await redis.sscan(key, cursor, "COUNT", count);
    cursor = next;
    await Promise.all(members.map(reap));
  } while (cursor !== "0");
  return (await redis.scard(key)) === 0;
}
