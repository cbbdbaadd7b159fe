import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { MemberStore } from "../../src/chat/member-store.js";
import { createMemoryMemberStore } from "../../src/chat/member-store-memory.js";
import { createRedisMemberStore } from "../../src/chat/member-store-redis.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

/**
 * The one contract both member stores keep (who is in which room, across instances):
 * the Redis store, standalone and on a real cluster, and the in-memory store. Each test
 * gets a fresh key prefix. An instance is a store under its own registration.
 */

let redisServer: RedisServer;
let redis: Redis;
// A real three-master cluster: the script keeps its keys in the room's slot ({roomId}).
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
  prefix = `members${prefixCounter}:`;
});

const backends: { name: string; members(): MemberStore }[] = [
  { name: "memory", members: () => createMemoryMemberStore() },
  {
    name: "redis",
    members: () => createRedisMemberStore({ redis, keyPrefix: prefix, registration: () => "contract" }),
  },
  {
    name: "redis cluster",
    members: () =>
      createRedisMemberStore({ redis: cluster, keyPrefix: prefix, registration: () => "contract" }),
  },
];

describe.each(backends)("$name member store", (backend) => {
  it("reports a join for a user's first socket and a leave for the last, however many devices", async () => {
    const store = backend.members();
    expect((await store.update("team:a", "alice", 1)).changes).toEqual([
      { roomId: "team:a", userId: "alice", event: "join" },
    ]);
    expect((await store.update("team:a", "alice", 2)).changes).toEqual([]);
    expect((await store.update("team:a", "alice", 1)).changes).toEqual([]);
    expect((await store.update("team:a", "alice", 0)).changes).toEqual([
      { roomId: "team:a", userId: "alice", event: "leave" },
    ]);
    expect((await store.update("team:a", "alice", 0)).changes).toEqual([]);
  });

  it("lists each user in the room once", async () => {
    const store = backend.members();
    await store.update("team:a", "alice", 3);
    const sync = await store.update("team:a", "bob", 1, true);
    expect(sync.online?.sort()).toEqual(["alice", "bob"]);
    await store.update("team:b", "carol", 1);
    expect((await store.online("team:a")).online.sort()).toEqual(["alice", "bob"]);
    await store.update("team:a", "alice", 0);
    expect((await store.online("team:a")).online).toEqual(["bob"]);
  });

  it("rewrites this instance's users from the full local state", async () => {
    const store = backend.members();
    await store.update("team:a", "alice", 1);
    await store.update("team:a", "bob", 2);
    const result = await store.refresh("team:a", new Map([["bob", 1]]));
    expect(result.changes).toEqual([{ roomId: "team:a", userId: "alice", event: "leave" }]);
    expect((await store.online("team:a")).online).toEqual(["bob"]);
    expect((await store.refresh("team:a")).changes).toEqual([]);
  });
});

describe("redis member store across instances", () => {
  const instance = (registration: string) =>
    createRedisMemberStore({ redis, keyPrefix: prefix, registration: () => registration });
  const described = (changes: { roomId: string; userId: string; event: string }[]) =>
    changes.map((c) => `${c.roomId} ${c.userId}:${c.event}`).sort();

  it("collapses a user's sockets on two instances into one join and one leave", async () => {
    const a = instance("a");
    const b = instance("b");
    expect((await a.update("team:a", "alice", 1)).changes.map((c) => c.event)).toEqual(["join"]);
    expect((await b.update("team:a", "alice", 1)).changes).toEqual([]);
    expect((await b.online("team:a")).online).toEqual(["alice"]);
    expect((await a.update("team:a", "alice", 0)).changes).toEqual([]);
    expect((await b.update("team:a", "alice", 0)).changes.map((c) => c.event)).toEqual(["leave"]);
  });

  it("drops a dead instance's users when it is reaped, reporting each leave once however many reap it", async () => {
    const live = instance("live");
    const dead = instance("dead");
    await dead.update("team:a", "alice", 1);
    await dead.update("team:a", "bob", 1);
    await live.update("team:a", "bob", 1);
    expect((await live.online("team:a")).online.sort()).toEqual(["alice", "bob"]);
    // The registry declared "dead" dead: every survivor's sweep reaps it, at the same time.
    const reaped = await Promise.all([live.reap("dead"), instance("other").reap("dead")]);
    expect(described(reaped.flatMap((r) => r.changes))).toEqual(["team:a alice:leave"]);
    expect(reaped.map((r) => r.done)).toEqual([true, true]);
    expect(await live.reap("dead")).toEqual({ changes: [], done: true });
    expect((await live.online("team:a")).online).toEqual(["bob"]);
  });

  it("finds every room a dead instance held through its own index, and removes only its entries", async () => {
    const live = instance("live");
    const dead = instance("dead");
    await dead.update("team:a", "alice", 1);
    await dead.update("team:b", "carol", 2);
    await dead.update("team:c", "dave", 1);
    await live.update("team:c", "dave", 1);
    await live.update("team:x", "erin", 1);
    // A room it left before it died: no longer listed, nothing to do there.
    await dead.update("team:y", "fay", 1);
    await dead.update("team:y", "fay", 0);
    await dead.release("team:y");

    const { changes, done } = await live.reap("dead");
    expect(described(changes)).toEqual(["team:a alice:leave", "team:b carol:leave"]);
    expect(done).toBe(true);
    expect((await live.online("team:c")).online).toEqual(["dave"]);
    expect((await live.online("team:x")).online).toEqual(["erin"]);
    expect(await redis.exists(`${prefix}chat:instance:{dead}:rooms`)).toBe(0);
  });

  it("tells an instance that lost its entries to resend its full state", async () => {
    const a = instance("a");
    await a.update("team:a", "alice", 1);
    expect((await a.refresh("team:a")).stale).toBe(false);
    const keys = await redis.keys(`${prefix}chat:*`);
    await redis.del(...keys);
    expect((await a.refresh("team:a")).stale).toBe(true);
    const resync = await a.refresh("team:a", new Map([["alice", 1]]));
    expect(resync.changes).toEqual([{ roomId: "team:a", userId: "alice", event: "join" }]);
    expect((await a.online("team:a")).online).toEqual(["alice"]);
  });

  it("keeps a room's keys under its hash tag and a registration's rooms under its own", async () => {
    const a = instance("a");
    await a.update("team:a", "alice", 1);
    await a.update("team:b", "bob", 1);
    await a.update("team:b", "bob", 0);
    await a.release("team:b");
    expect((await redis.keys(`${prefix}*`)).sort()).toEqual([
      `${prefix}chat:instance:{a}:rooms`,
      `${prefix}chat:{team:a}:holders`,
      `${prefix}chat:{team:a}:members`,
    ]);
    expect(await redis.smembers(`${prefix}chat:instance:{a}:rooms`)).toEqual(["team:a"]);
    // No expiry: entries stay until they are removed or their instance is reaped.
    expect(await redis.pttl(`${prefix}chat:{team:a}:members`)).toBe(-1);
  });
});
