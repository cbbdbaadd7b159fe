import { randomBytes } from "node:crypto";
import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AccessCache, createMemoryAccessCache } from "../../src/chat/access-cache.js";
import { createRedisAccessCache } from "../../src/chat/access-cache-redis.js";
import { sleep } from "../helpers/client.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

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

/** `count` views of ONE shared cache, as `count` instances would see it. */
type Backend = (count: number) => AccessCache[];

const backends: [string, Backend][] = [
  [
    "memory",
    (count) => {
      const cache = createMemoryAccessCache();
      return Array.from({ length: count }, () => cache);
    },
  ],
  [
    "redis",
    (count) => {
      const keyPrefix = uniquePrefix();
      return Array.from({ length: count }, () => {
        const redis = redisServer.client();
        clients.push(redis);
        return createRedisAccessCache({ redis, keyPrefix });
      });
    },
  ],
  [
    "redis cluster",
    (count) => {
      const keyPrefix = uniquePrefix();
      return Array.from({ length: count }, () => {
        const redis = new Cluster(redisCluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })));
        redis.on("error", () => {});
        clients.push(redis);
        return createRedisAccessCache({ redis, keyPrefix });
      });
    },
  ],
];

describe.each(backends)("room access cache (%s)", (_name, backend) => {
  it("answers nothing for a user and room never cached", async () => {
    const [cache] = backend(1) as [AccessCache];
    expect(await cache.get("ann", "group:1")).toBeUndefined();
  });

  it("keeps allows and denials per user and room, seen by every instance", async () => {
    const [a, b] = backend(2) as [AccessCache, AccessCache];
    await a.set("ann", "group:1", true, 60);
    await a.set("ann", "group:2", false, 60);
    expect(await b.get("ann", "group:1")).toBe(true);
    expect(await b.get("ann", "group:2")).toBe(false);
    expect(await b.get("bob", "group:1")).toBeUndefined();
    await b.set("ann", "group:1", false, 60);
    expect(await a.get("ann", "group:1")).toBe(false);
  });

  it("forgets an answer once its ttl has passed", async () => {
    const [cache] = backend(1) as [AccessCache];
    await cache.set("cat", "group:1", true, 1);
    expect(await cache.get("cat", "group:1")).toBe(true);
    await sleep(1100);
    expect(await cache.get("cat", "group:1")).toBeUndefined();
  });
});
