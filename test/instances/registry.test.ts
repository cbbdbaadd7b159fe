import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/infra/logger.js";
import { createRedisInstanceStore } from "../../src/instances/instance-store-redis.js";
import { createInstanceRegistry, type InstanceRegistry } from "../../src/instances/registry.js";
import { eventually } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

/** The registry across two instances over one real Redis, with participants that record what they are asked. */

const TTL = 300;
const logger = createLogger({ level: "silent", instanceId: "test" });

let redis: RedisServer;
let client: Redis;
const running: InstanceRegistry[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = redis.client();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});
afterAll(async () => {
  client.disconnect();
  await redis.destroy();
});

function registry(instanceId: string, keyPrefix: string): InstanceRegistry {
  const created = createInstanceRegistry({
    store: createRedisInstanceStore({ redis: client, keyPrefix }),
    instanceId,
    ttlMs: TTL,
    logger,
  });
  running.push(created);
  return created;
}

describe("instance registry", () => {
  it("declares a silent instance dead and forgets it only once every participant has removed all it held", async () => {
    const prefix = `r${randomBytes(4).toString("hex")}:`;
    const victim = registry("victim", prefix);
    const survivor = registry("survivor", prefix);
    const asked: string[] = [];
    let slowLeft = 2;
    survivor.join({
      async reap(dead) {
        asked.push(`quick ${dead.registration}`);
        return true;
      },
    });
    survivor.join({
      // Leaves something behind the first time (a batch left for the next sweep).
      async reap(dead) {
        asked.push(`slow ${dead.registration}`);
        slowLeft -= 1;
        return slowLeft === 0;
      },
    });
    await Promise.all([victim.start(), survivor.start()]);
    const gone = victim.current() as string;
    await victim.stop();

    await eventually(() => asked.filter((a) => a === `slow ${gone}`).length === 2, 5000);
    await eventually(async () => (await client.zcard(`${prefix}{instances}:dead`)) === 0, 5000);
    expect(asked.filter((a) => a.startsWith("slow"))).toEqual([`slow ${gone}`, `slow ${gone}`]);
    expect(asked).not.toContain(`quick ${survivor.current()}`);
  });

  it("registers again when the store lost its registration, and hands the old one to the reapers once the participants wrote under the new one", async () => {
    const prefix = `r${randomBytes(4).toString("hex")}:`;
    const steps: string[] = [];
    // Every instance runs the same features: each records what it writes and reaps.
    const started = ["a", "b"].map((name) => {
      const created = registry(name, prefix);
      created.join({
        async afterBeat(registration) {
          const step = `${name} wrote under ${registration}`;
          if (!steps.includes(step)) steps.push(step);
        },
        async reap(dead) {
          steps.push(`reaped ${dead.registration}`);
          return true;
        },
      });
      return created;
    });
    const [a] = started as [InstanceRegistry];
    await Promise.all(started.map((r) => r.start()));
    const first = a.current() as string;

    // Redis lost it (a failover to a replica without it): nobody would ever declare it dead.
    await client.zrem(`${prefix}{instances}:live`, first);
    await eventually(() => steps.includes(`reaped ${first}`), 5000);
    const second = a.current() as string;
    expect(second).not.toBe(first);
    expect(second.startsWith("a~")).toBe(true);
    expect(steps.indexOf(`a wrote under ${second}`)).toBeGreaterThan(-1);
    expect(steps.indexOf(`a wrote under ${second}`)).toBeLessThan(steps.indexOf(`reaped ${first}`));
  });
});
