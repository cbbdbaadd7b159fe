import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRedisMessageStore } from "../../src/chat/message-store-redis.js";
import { createRateLimiterFactory, type RateLimiterFactory } from "../../src/infra/rate-limit.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, request } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * Rate-limit counters are per user: no user id, whatever characters it holds, may reach
 * another user's counter. User ids may contain `:`, so `burst:w1` and `w1` are the
 * colliding pair of a limiter with a burst allowance.
 */

let redisServer: RedisServer;
let redis: Redis;

beforeAll(async () => {
  redisServer = await startRedis();
  redis = redisServer.client();
  // Until the client is ready the limiter counts in its in-memory insurance instead.
  if (redis.status !== "ready") await new Promise((resolve) => redis.once("ready", resolve));
});
afterEach(() => closeAllClients());
afterAll(async () => {
  redis?.disconnect();
  await redisServer?.destroy();
});

const prefix = () => `rlk${randomBytes(4).toString("hex")}:`;

const outcome = (p: Promise<void>) =>
  p.then(
    () => "ok",
    (err: { code?: string }) => err.code ?? String(err),
  );

const factories: [string, () => RateLimiterFactory][] = [
  ["memory", () => createRateLimiterFactory({ keyPrefix: prefix() })],
  ["redis", () => createRateLimiterFactory({ redis, keyPrefix: prefix() })],
];

describe.each(factories)("per-user counters (%s)", (_name, make) => {
  // 1 per minute, and 1 more as a burst: a third consume within the minute is refused.
  const rule = { points: 1, durationSec: 60, burstPoints: 1, burstDurationSec: 60 };

  it("keeps user burst:w1's counter apart from user w1's burst counter", async () => {
    const limiter = make()("chat:send", rule);
    expect([await outcome(limiter.consume("w1")), await outcome(limiter.consume("w1"))]).toEqual([
      "ok",
      "ok",
    ]);
    expect(await outcome(limiter.consume("w1"))).toBe("RATE_LIMITED");
    // w1 spent its burst: a user whose id starts with `burst:` has spent nothing.
    expect(await outcome(limiter.consume("burst:w1"))).toBe("ok");
    expect(await outcome(limiter.consume("burst:w1"))).toBe("ok");
    expect(await outcome(limiter.consume("burst:w1"))).toBe("RATE_LIMITED");
  });

  it("keeps w1's burst allowance when burst:w1 spends its own", async () => {
    const limiter = make()("notification-list", rule);
    await limiter.consume("burst:w1");
    await limiter.consume("burst:w1");
    expect(await outcome(limiter.consume("w1"))).toBe("ok");
    expect(await outcome(limiter.consume("w1"))).toBe("ok");
  });

  it("keeps limiters whose names extend one another apart", async () => {
    const factory = make();
    const send = factory("chat:send", { points: 1, durationSec: 60 });
    const sendBurst = factory("chat:send:burst", { points: 1, durationSec: 60 });
    await send.consume("burst:w1");
    expect(await outcome(sendBurst.consume("w1"))).toBe("ok");
  });
});

describe("chat:send's limit inside the append script", () => {
  it("consumes the sender's own counters, not those of a user whose id extends it", async () => {
    const keyPrefix = prefix();
    const store = createRedisMessageStore({
      redis,
      keyPrefix,
      historyLimit: 1000,
      retentionMs: 0,
      unreadCap: 1000,
      idempotencyTtlSec: 86_400,
      publishCommand: () => "PUBLISH",
    });
    const limiter = createRateLimiterFactory({ redis, keyPrefix })("chat:send", {
      points: 1,
      durationSec: 60,
      burstPoints: 1,
      burstDurationSec: 60,
    });
    const send = (senderId: string) =>
      outcome(
        store
          .append(
            { roomId: "team:a", senderId, text: "hi", createdAt: Date.now() },
            { limiter, key: senderId },
          )
          .then(() => undefined),
      );
    expect([await send("w1"), await send("w1"), await send("w1")]).toEqual(["ok", "ok", "RATE_LIMITED"]);
    expect([await send("burst:w1"), await send("burst:w1")]).toEqual(["ok", "ok"]);
    // The script and the library still count on the same keys.
    expect(await outcome(limiter.consume("burst:w1"))).toBe("RATE_LIMITED");
    expect((await redis.keys(`${keyPrefix}rl:*`)).sort()).toEqual([
      `${keyPrefix}rl:chat:send/burst:burst:w1`,
      `${keyPrefix}rl:chat:send/burst:w1`,
      `${keyPrefix}rl:chat:send/rate:burst:w1`,
      `${keyPrefix}rl:chat:send/rate:w1`,
    ]);
  });
});

describe("a client event's limit on a running server", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp({ REDIS_URL: redisServer.url, REDIS_KEY_PREFIX: prefix() });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("gives burst:w1 its whole notification:list allowance after w1 spent its own", async () => {
    const w1 = await connected(t.url, await tokenFor("w1"));
    const other = await connected(t.url, await tokenFor("burst:w1"));
    // 10 per second plus a burst of 20 refilled over 10 s: at least 30 answers before a refusal.
    const answeredUntilRefused = async (socket: typeof w1) => {
      let answered = 0;
      while (answered < 200) {
        const res = await request(socket, "notification:list", {});
        if (!res.ok) {
          expect(res.error.code).toBe("RATE_LIMITED");
          return answered;
        }
        answered += 1;
      }
      return answered;
    };
    expect(await answeredUntilRefused(w1)).toBeGreaterThanOrEqual(30);
    expect(await answeredUntilRefused(other)).toBeGreaterThanOrEqual(30);
  });
});
