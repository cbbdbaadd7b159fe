import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MAX_REMEMBERED_ROOMS, type RoomListStore } from "../../src/chat/room-list-store.js";
import { createMemoryRoomListStore } from "../../src/chat/room-list-store-memory.js";
import { createRedisRoomListStore } from "../../src/chat/room-list-store-redis.js";
import { sleep } from "../helpers/client.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

/**
 * The one contract both room list stores keep (the rooms each user joined, each room's
 * followers, the room's announcement window): the Redis store, standalone and on a real
 * cluster, and the in-memory store. Each test gets a fresh key prefix.
 */

let redisServer: RedisServer;
let redis: Redis;
let redisCluster: RedisCluster;
let cluster: Cluster;
let prefixCounter = 0;
let prefix = "";

beforeAll(async () => {
  [redisServer, redisCluster] = await Promise.all([startRedis(), new RedisCluster().start()]);
  redis = redisServer.client();
  cluster = new Cluster(redisCluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })));
  cluster.on("error", () => {});
}, 60_000);

afterAll(async () => {
  redis?.disconnect();
  cluster?.disconnect();
  await Promise.all([redisServer?.destroy(), redisCluster?.destroy()]);
});

beforeEach(() => {
  prefixCounter += 1;
  prefix = `roomlist${prefixCounter}:`;
});

const backends: { name: string; store(): RoomListStore }[] = [
  { name: "memory", store: () => createMemoryRoomListStore({ now: Date.now }) },
  { name: "redis", store: () => createRedisRoomListStore({ redis, keyPrefix: prefix, retentionMs: 0 }) },
  {
    name: "redis cluster",
    store: () => createRedisRoomListStore({ redis: cluster, keyPrefix: prefix, retentionMs: 0 }),
  },
];

describe.each(backends)("$name room list store", (backend) => {
  it("remembers the rooms a user joined, most recently joined first, and the room's followers", async () => {
    const store = backend.store();
    await store.remember("bob", "team:a", 1000);
    await store.remember("bob", "team:b", 2000);
    await store.remember("alice", "team:a", 1500);
    await store.remember("bob", "team:a", 3000);
    expect(await store.rooms("bob")).toEqual(["team:a", "team:b"]);
    expect((await store.followers("team:a")).sort()).toEqual(["alice", "bob"]);
    expect(await store.rooms("carol")).toEqual([]);
    expect(await store.followers("team:none")).toEqual([]);
  });

  it("forgets a room for one user only", async () => {
    const store = backend.store();
    await store.remember("bob", "team:a", 1000);
    await store.remember("alice", "team:a", 1000);
    await store.forget("bob", "team:a");
    expect(await store.rooms("bob")).toEqual([]);
    expect(await store.followers("team:a")).toEqual(["alice"]);
    await store.forget("bob", "team:never");
  });

  it(`keeps at most ${MAX_REMEMBERED_ROOMS} rooms per user, dropping the longest unjoined`, async () => {
    const store = backend.store();
    for (let i = 0; i <= MAX_REMEMBERED_ROOMS; i++) await store.remember("bob", `team:r${i}`, 1000 + i);
    const rooms = await store.rooms("bob");
    expect(rooms).toHaveLength(MAX_REMEMBERED_ROOMS);
    expect(rooms[0]).toBe(`team:r${MAX_REMEMBERED_ROOMS}`);
    expect(rooms).not.toContain("team:r0");
    expect(await store.followers("team:r0")).toEqual([]);
  });

  it("gives a room's announcement window to one caller at a time, telling the others how long it lasts", async () => {
    const store = backend.store();
    expect(await store.claimAnnouncement("team:a", 300)).toBe(0);
    const wait = await store.claimAnnouncement("team:a", 300);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(300);
    expect(await store.claimAnnouncement("team:b", 300)).toBe(0);
    await sleep(wait + 20);
    expect(await store.claimAnnouncement("team:a", 300)).toBe(0);
  });
});
