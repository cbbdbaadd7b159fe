import { randomBytes } from "node:crypto";
import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryInstanceStore } from "../../src/instances/instance-store-memory.js";
import { createRedisInstanceStore } from "../../src/instances/instance-store-redis.js";
import type { InstanceStore } from "../../src/instances/store.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

const T0 = 1_700_000_000_000;

/** `count` views of ONE shared registry, as `count` instances would see it. */
type Backend = (count: number) => InstanceStore[];

let redisServer: RedisServer;
let redisCluster: RedisCluster;
const clients: (Redis | Cluster)[] = [];

beforeAll(async () => {
  [redisServer, redisCluster] = await Promise.all([startRedis(), new RedisCluster().start()]);
});
afterAll(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all([redisServer.destroy(), redisCluster.destroy()]);
});

const uniquePrefix = () => `t${randomBytes(4).toString("hex")}:`;

const backends: [string, Backend][] = [
  [
    "memory",
    (count) => {
      const store = createMemoryInstanceStore();
      return Array.from({ length: count }, () => store);
    },
  ],
  [
    "redis",
    (count) => {
      const keyPrefix = uniquePrefix();
      return Array.from({ length: count }, () => {
        const redis = redisServer.client();
        clients.push(redis);
        return createRedisInstanceStore({ redis, keyPrefix });
      });
    },
  ],
  [
    // Proves the hash tag: a script whose keys spanned slots would fail with CROSSSLOT.
    "redis cluster",
    (count) => {
      const keyPrefix = uniquePrefix();
      return Array.from({ length: count }, () => {
        const redis = new Cluster(redisCluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })));
        redis.on("error", () => {});
        clients.push(redis);
        return createRedisInstanceStore({ redis, keyPrefix });
      });
    },
  ],
];

describe.each(backends)("instance store contract (%s)", (_name, backend) => {
  it("keeps a heart-beating registration live and declares a silent one dead, whose heartbeat then fails", async () => {
    const [store] = backend(1) as [InstanceStore];
    await store.register("dead", T0);
    await store.register("live", T0);
    expect(await store.heartbeat("live", T0 + 1000)).toBe(true);

    expect(await store.claimDead(T0 + 500, 10)).toEqual([{ registration: "dead", lastBeat: T0 }]);
    expect(await store.heartbeat("dead", T0 + 1000)).toBe(false);
    expect(await store.heartbeat("live", T0 + 1001)).toBe(true);
  });

  it("lists the live registrations with their last heartbeat, the longest silent first, not the dead ones", async () => {
    const [store] = backend(1) as [InstanceStore];
    await store.register("a", T0);
    await store.register("b", T0 + 1);
    await store.register("c", T0 + 2);
    expect(await store.heartbeat("a", T0 + 100)).toBe(true);
    await store.claimDead(T0 + 2, 10);
    expect(await store.live()).toEqual([
      { registration: "c", lastBeat: T0 + 2 },
      { registration: "a", lastBeat: T0 + 100 },
    ]);
  });

  it("answers false to the heartbeat of a registration it never held", async () => {
    const [store] = backend(1) as [InstanceStore];
    expect(await store.heartbeat("unknown", T0)).toBe(false);
  });

  it("lists a dead registration to every sweeper until it is forgotten", async () => {
    const stores = backend(2);
    const [store] = stores as [InstanceStore];
    await store.register("dead", T0);
    const claims = await Promise.all(stores.map((s) => s.claimDead(T0 + 500, 10)));
    expect(claims).toEqual([
      [{ registration: "dead", lastBeat: T0 }],
      [{ registration: "dead", lastBeat: T0 }],
    ]);
    // A sweeper that has not cleaned it yet still finds it, with its last heartbeat.
    expect(await store.claimDead(T0 + 5000, 10)).toEqual([{ registration: "dead", lastBeat: T0 }]);
    await store.forget("dead");
    expect(await store.claimDead(T0 + 5000, 10)).toEqual([]);
  });

  it("declares and lists at most the limit per sweep, the longest silent first", async () => {
    const [store] = backend(1) as [InstanceStore];
    for (const [name, at] of [
      ["c", T0 + 2],
      ["a", T0],
      ["b", T0 + 1],
    ] as const) {
      await store.register(name, at);
    }
    expect(await store.claimDead(T0 + 500, 2)).toEqual([
      { registration: "a", lastBeat: T0 },
      { registration: "b", lastBeat: T0 + 1 },
    ]);
    await store.forget("a");
    await store.forget("b");
    expect(await store.claimDead(T0 + 500, 2)).toEqual([{ registration: "c", lastBeat: T0 + 2 }]);
  });

  it("declares a given-up registration dead, unless it holds it live or dead already", async () => {
    const [store] = backend(1) as [InstanceStore];
    await store.register("live", T0);
    await store.declareDead("live", T0);
    expect(await store.heartbeat("live", T0 + 1)).toBe(true);

    await store.declareDead("lost", T0);
    await store.declareDead("lost", T0 + 5);
    expect(await store.heartbeat("lost", T0 + 6)).toBe(false);
    expect(await store.claimDead(T0, 10)).toEqual([{ registration: "lost", lastBeat: T0 }]);
  });
});

describe("redis instance store keys", () => {
  it("keeps both keys under REDIS_KEY_PREFIX, in one hash tag", async () => {
    const redis = redisServer.client();
    clients.push(redis);
    const keyPrefix = `k${randomBytes(4).toString("hex")}:`;
    const store = createRedisInstanceStore({ redis, keyPrefix });
    await store.register("a", T0);
    await store.register("b", T0 + 1000);
    await store.claimDead(T0 + 500, 10);

    const keys = (await redis.keys("*")).filter((k) => k.startsWith(keyPrefix)).sort();
    expect(keys).toEqual([`${keyPrefix}{instances}:dead`, `${keyPrefix}{instances}:live`]);
  });
});
