import { connected, type TestSocket } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

/** Small bounds so crash detection and graces fit in a test. */
export const TTL = 1500;
export const GRACE = 600;

/** The environment of a presence test instance sharing `redisUrl` under `keyPrefix`. */
export function presenceEnv(redisUrl: string, keyPrefix: string): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: keyPrefix,
    PRESENCE_TTL_MS: String(TTL),
    PRESENCE_GRACE_MS: String(GRACE),
    // The tests poll presence:query.
    RATE_PRESENCE_SUBSCRIBE_PER_SEC: "1000",
  };
}

/** A real client connected to `server` as `userId`. */
export async function connectAs(server: { url: string }, userId: string): Promise<TestSocket> {
  return connected(server.url, await tokenFor(userId));
}
