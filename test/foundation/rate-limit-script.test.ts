import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createRateLimiterFactory,
  type PendingLimit,
  type RateLimitRule,
} from "../../src/infra/rate-limit.js";
import { LUA_RATE_LIMIT, limitForScript } from "../../src/infra/rate-limit-script.js";
import { defineScript, type RedisScript } from "../../src/infra/redis-script.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

/**
 * The Lua fragment that consumes a rate limit inside a store script mirrors
 * rate-limiter-flexible's internals: both must count on the same counters, the same way,
 * so that a limit consumed partly by scripts and partly by the library is one limit.
 */

let redisServer: RedisServer;
let redis: Redis;
/** A store script reduced to its limit: refused, or {1, the number of keys the counters took}. */
let limitOnly: RedisScript;

beforeAll(async () => {
  redisServer = await startRedis();
  redis = redisServer.client();
  // Until the client is ready the library counts in its in-memory insurance instead.
  if (redis.status !== "ready") await new Promise((resolve) => redis.once("ready", resolve));
  limitOnly = defineScript(redis, {
    name: "limitOnly",
    lua: `${LUA_RATE_LIMIT}
local refusal, keys = rl_consume(1, 1)
if refusal then return refusal end
return {1, keys}`,
  });
});
afterAll(async () => {
  redis?.disconnect();
  await redisServer?.destroy();
});

const prefix = () => `rls${randomBytes(4).toString("hex")}:`;

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (err: { code?: string }) => err.code ?? String(err),
  );

async function consumeInScript(limit: PendingLimit | undefined): Promise<unknown> {
  const scriptLimit = await limitForScript(limit);
  const reply = await limitOnly(scriptLimit.keys, scriptLimit.args);
  scriptLimit.check(reply);
  return reply;
}

describe("a rate limit consumed inside a store script", () => {
  // 2 a minute, 1 more as a burst: the fourth consume within the minute is refused.
  const rule: RateLimitRule = { points: 2, durationSec: 60, burstPoints: 1, burstDurationSec: 60 };

  it("counts on the library's counters exactly as the library does, whichever way each point is consumed", async () => {
    const keyPrefix = prefix();
    const limiter = createRateLimiterFactory({ redis, keyPrefix })("chat:send", rule);
    const byLibrary = (key: string) => outcome(limiter.consume(key));
    const byScript = (key: string) => outcome(consumeInScript({ limiter, key }));

    const library: string[] = [];
    const mixed: string[] = [];
    for (let i = 0; i < 6; i++) {
      library.push(await byLibrary("lib"));
      mixed.push(await (i % 2 === 0 ? byScript : byLibrary)("mix"));
    }
    expect(library).toEqual(["ok", "ok", "ok", "RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED"]);
    expect(mixed).toEqual(library);
    // Refusals count too, and the burst counter is touched only once the sustained one is spent.
    const counters = async (key: string) =>
      Promise.all(["rate", "burst"].map((c) => redis.get(`${keyPrefix}rl:chat:send/${c}:${key}`)));
    expect(await counters("mix")).toEqual(await counters("lib"));
    expect(await counters("lib")).toEqual(["6", "4"]);
  });

  it("refuses with the wait until the first of the two windows reopens", async () => {
    const limiter = createRateLimiterFactory({ redis, keyPrefix: prefix() })("chat:send", {
      points: 1,
      durationSec: 60,
      burstPoints: 1,
      burstDurationSec: 20,
    });
    await consumeInScript({ limiter, key: "u1" });
    await consumeInScript({ limiter, key: "u1" });
    const refused = await consumeInScript({ limiter, key: "u1" }).catch((err: unknown) => err);
    expect(refused).toMatchObject({ code: "RATE_LIMITED", message: "rate limit for chat:send exceeded" });
    const { retryAfterMs } = refused as { retryAfterMs: number };
    expect(retryAfterMs).toBeGreaterThan(15_000);
    expect(retryAfterMs).toBeLessThanOrEqual(20_000);
  });

  it("hands the script nothing to consume without a limit", async () => {
    expect(await consumeInScript(undefined)).toEqual([1, 0]);
    const none = await limitForScript(undefined);
    expect([none.keys, none.args]).toEqual([[], [0]]);
  });

  it("consumes a limit counted in this process before the script, which then consumes nothing", async () => {
    const limiter = createRateLimiterFactory({ keyPrefix: prefix() })("chat:send", {
      points: 1,
      durationSec: 60,
    });
    const first = await limitForScript({ limiter, key: "u1" });
    expect([first.keys, first.args]).toEqual([[], [0]]);
    await expect(limitForScript({ limiter, key: "u1" })).rejects.toMatchObject({ code: "RATE_LIMITED" });
  });

  it("keeps the counters out of scripts on a Redis Cluster, where their slots are not the script's", () => {
    const cluster = new Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true });
    try {
      const limiter = createRateLimiterFactory({ redis: cluster, keyPrefix: prefix() })("chat:send", rule);
      expect(limiter.scriptCounters).toBeUndefined();
      expect(
        createRateLimiterFactory({ redis, keyPrefix: "" })("chat:send", rule).scriptCounters,
      ).toBeDefined();
    } finally {
      cluster.disconnect();
    }
  });

  it("mirrors exactly the rate-limiter-flexible version package.json pins", () => {
    const manifest = JSON.parse(readFileSync("package.json", "utf8")) as {
      dependencies: Record<string, string>;
    };
    const pinned = manifest.dependencies["rate-limiter-flexible"];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    const installed = (
      createRequire(import.meta.url)("rate-limiter-flexible/package.json") as { version: string }
    ).version;
    expect(installed).toBe(pinned);
  });
});
