import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok, sleep } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";
import { churnSession, instanceSnapshot, RETURNING, type RedisCensus, redisCensus } from "./churn.js";

/**
 * The soak's check at a small size: after connection churn on two instances, every
 * per-connection structure (sockets, adapter rooms, presence and membership entries,
 * rate-limit counters) is back to its size before the churn.
 */

const ROOMS = ["team:r0", "team:r1"];
// Enough users that none passes notification:list's fixed 10/s (its burst window is 10 s).
const USERS = Array.from({ length: 30 }, (_, i) => `churner${i}`);
const SESSIONS = 120;
const CONCURRENCY = 8;
const GRACE = 300;

let redis: RedisServer;
let check: Redis;
const apps: TestApp[] = [];

beforeAll(async () => {
  redis = await startRedis();
  check = redis.client();
});
afterEach(async () => {
  closeAllClients();
  await Promise.all(apps.splice(0).map((a) => a.close()));
});
afterAll(async () => {
  check.disconnect();
  await redis.destroy();
});

const pick = (census: RedisCensus) => Object.fromEntries(RETURNING.map((k) => [k, census[k]]));

describe("connection churn across two instances", () => {
  it("returns sockets, adapter rooms, presence entries, room members and rate-limit keys to their starting size", async () => {
    const prefix = `ch${randomBytes(4).toString("hex")}:`;
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix,
      PRESENCE_TTL_MS: "1500",
      PRESENCE_GRACE_MS: String(GRACE),
      // Sessions of one user overlap: keep to the 1 s windows (no burst limiter, whose window is longer).
      RATE_CHAT_SEND_PER_SEC: "1000",
      RATE_CHAT_SEND_BURST: "1000",
      RATE_CHAT_JOIN_PER_SEC: "1000",
      RATE_CHAT_TYPING_PER_SEC: "1000",
      RATE_PRESENCE_SUBSCRIBE_PER_SEC: "1000",
      MAX_CONNECTIONS_PER_USER: "100",
    };
    apps.push(...(await Promise.all([startApp(env), startApp(env)])));
    const urls = apps.map((a) => a.url);

    // Residents stay through the churn: the starting state is not empty.
    for (const [i, url] of urls.entries()) {
      const resident = await connected(url, await tokenFor(`resident${i}`, { rooms: ["team:*"] }));
      for (const roomId of ROOMS) await ok(resident, "chat:join", { roomId });
      await ok(resident, "presence:subscribe", { userIds: USERS });
    }
    // Let the residents' own 1 s rate-limit windows lapse before taking the baseline.
    await sleep(1100);
    const instancesBefore = apps.map((a) => instanceSnapshot(a.app));
    const redisBefore = await redisCensus(check, prefix);

    let next = 0;
    const refused: string[] = [];
    const worker = async () => {
      while (next < SESSIONS) {
        const n = next++;
        refused.push(
          ...(await churnSession({
            url: urls[n % urls.length] as string,
            userId: USERS[n % USERS.length] as string,
            roomId: ROOMS[n % ROOMS.length] as string,
            watch: USERS.slice(0, 5),
            transport: n % 5 === 0 ? "polling" : "websocket",
            clientMsgId: `m${n}`,
          })),
        );
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const during = await redisCensus(check, prefix);

    expect(refused).toEqual([]);
    // The churn really wrote state: messages, presence users and rate-limit windows.
    expect(during.chatIdempotencyKeys).toBe(SESSIONS);
    expect(during.rateLimitKeys).toBeGreaterThan(redisBefore.rateLimitKeys);
    expect(during.presenceStates).toBe(redisBefore.presenceStates + USERS.length);

    await eventually(() => apps.every((a, i) => equal(instanceSnapshot(a.app), instancesBefore[i])), 5000);
    await eventually(async () => equal(pick(await redisCensus(check, prefix)), pick(redisBefore)), 5000, 100);
    const after = await redisCensus(check, prefix);
    console.info(
      `churn: ${SESSIONS} sessions; before ${JSON.stringify(pick(redisBefore))}, ` +
        `during ${JSON.stringify(pick(during))}, after ${JSON.stringify(pick(after))}`,
    );
    expect(apps.map((a) => instanceSnapshot(a.app))).toEqual(instancesBefore);
    expect(pick(after)).toEqual(pick(redisBefore));
    // Presence keeps one state per user (lastSeen), not one per connection.
    expect(after.presenceStates).toBe(redisBefore.presenceStates + USERS.length);
  });
});

function equal(a: Record<string, number>, b: Record<string, number> | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
