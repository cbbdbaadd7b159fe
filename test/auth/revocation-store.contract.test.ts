import { randomBytes } from "node:crypto";
import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryRevocationStore, type RevocationStore } from "../../src/auth/revocation-store.js";
import { createRedisRevocationStore, revocationKey } from "../../src/auth/revocation-store-redis.js";
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

/** A store, and how much longer (ms) it keeps the user's entry, where it can tell. */
type Backend = () => { store: RevocationStore; keptMs?: (userId: string) => Promise<number> };

const redisBackend = (redis: Redis | Cluster) => {
  clients.push(redis);
  const keyPrefix = uniquePrefix();
  return {
    store: createRedisRevocationStore({ redis, keyPrefix }),
    keptMs: (userId: string) => redis.pttl(revocationKey(keyPrefix, userId)),
  };
};

const backends: [string, Backend][] = [
  ["memory", () => ({ store: createMemoryRevocationStore() })],
  ["redis", () => redisBackend(redisServer.client())],
  [
    "redis cluster",
    () => {
      const cluster = new Cluster(redisCluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })));
      cluster.on("error", () => {});
      return redisBackend(cluster);
    },
  ],
];

describe.each(backends)("revocation store (%s)", (_name, backend) => {
  it("knows no revocation for a user never revoked", async () => {
    const { store } = backend();
    expect(await store.get("nobody")).toBeUndefined();
  });

  it("keeps the later time of two revocations, and the longer of their lifetimes", async () => {
    const { store, keptMs } = backend();
    const now = Date.now();
    expect(await store.revoke("ann", now, now + 60_000)).toBe(now);
    expect(await store.revoke("ann", now - 5000, now + 1000)).toBe(now);
    expect(await store.get("ann")).toBe(now);
    if (keptMs) expect(await keptMs("ann")).toBeGreaterThan(30_000);
    expect(await store.revoke("ann", now + 10, now + 1000)).toBe(now + 10);
    expect(await store.get("ann")).toBe(now + 10);
    expect(await store.get("bob")).toBeUndefined();
  });

  it("forgets a revocation once it is no longer needed", async () => {
    const { store } = backend();
    const now = Date.now();
    await store.revoke("cat", now, now + 150);
    expect(await store.get("cat")).toBe(now);
    await sleep(300);
    expect(await store.get("cat")).toBeUndefined();
  });
});
