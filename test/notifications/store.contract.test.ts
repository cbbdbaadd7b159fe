import { randomBytes } from "node:crypto";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryNotificationStore } from "../../src/notifications/notification-store-memory.js";
import { createRedisNotificationStore } from "../../src/notifications/notification-store-redis.js";
import {
  type AddResult,
  type NotificationStore,
  type NotificationStoreOptions,
  parseNotificationId,
} from "../../src/notifications/store.js";
import type { Notification } from "../../src/protocol/index.js";
import { sleep } from "../helpers/client.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

let redisServer: RedisServer;
let redis: Redis;
// A real three-master cluster: one user's keys share a slot ({userId}), users spread over shards.
let redisCluster: RedisCluster;
let cluster: Cluster;

beforeAll(async () => {
  [redisServer, redisCluster] = await Promise.all([startRedis(), new RedisCluster().start()]);
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
  cluster = new Cluster(redisCluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })));
  cluster.on("error", () => {});
}, 60_000);

afterAll(async () => {
  redis?.disconnect();
  cluster?.disconnect();
  await Promise.all([redisServer?.destroy(), redisCluster?.destroy()]);
});

const T0 = 1_700_000_000_000;
const TTL = 60_000;
/** The notifications an add stored (a replay's may have been dropped since). */
const stored = (results: AddResult[]): Notification[] => results.map((r) => r.notification as Notification);

const content = (title: string) => ({ type: "test", title });

type StoreFactory = (options: NotificationStoreOptions) => NotificationStore;

const factories: [string, StoreFactory][] = [
  ["memory", (options) => createMemoryNotificationStore(options)],
  [
    "redis",
    (options) =>
      createRedisNotificationStore({ redis, keyPrefix: `t${randomBytes(4).toString("hex")}:`, ...options }),
  ],
  [
    "redis cluster",
    (options) =>
      createRedisNotificationStore({
        redis: cluster,
        keyPrefix: `t${randomBytes(4).toString("hex")}:`,
        ...options,
      }),
  ],
];

describe.each(factories)("notification store contract (%s)", (_name, make) => {
  const storeWith = (options: Partial<NotificationStoreOptions> = {}) =>
    make({ limit: 100, ttlMs: TTL, ...options });

  it("stores one notification per user and returns it complete and unread", async () => {
    const store = storeWith();
    const [a, b] = stored(
      await store.add(["alice", "bob"], { type: "t", title: "hi", body: "b", data: { k: [1] } }, T0),
    );
    expect(a).toMatchObject({
      type: "t",
      title: "hi",
      body: "b",
      data: { k: [1] },
      createdAt: T0,
      readAt: null,
    });
    expect(b?.createdAt).toBe(T0);
    const listed = await store.list("alice", { limit: 10, unreadOnly: false }, T0);
    expect(listed).toEqual({ items: [a], unreadCount: 1, hasMore: false });
    expect(await store.unreadCount("bob", T0)).toBe(1);
  });

  it("stores one notification for each of 250 users of one publish, each reply in the users' order", async () => {
    const store = storeWith();
    const users = Array.from({ length: 250 }, (_, i) => `many-${i}`);
    // One of them already holds one: its id moves on from it, the others' start fresh.
    await store.add(["many-170"], content("earlier"), T0);
    const results = await store.add(users, content("to all"), T0, { hash: "h-many", ttlMs: TTL });
    expect(results).toHaveLength(250);
    expect(results.every((r) => !r.replayed && r.notification?.title === "to all")).toBe(true);
    for (const i of [0, 99, 100, 170, 249]) {
      const listed = await store.list(`many-${i}`, { limit: 10, unreadOnly: false }, T0);
      expect(listed.items[0]?.id, `user ${i}`).toBe(results[i]?.id);
      expect(listed.unreadCount, `user ${i}`).toBe(i === 170 ? 2 : 1);
    }
    const again = await store.add(users, content("to all"), T0 + 1, { hash: "h-many", ttlMs: TTL });
    expect(again.map((r) => [r.id, r.replayed])).toEqual(results.map((r) => [r.id, true]));
  });

  it("orders notifications of one millisecond exactly, newest first", async () => {
    const store = storeWith();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++)
      ids.push(((await store.add(["u"], content(`n${i}`), T0))[0] as { id: string }).id);
    expect(new Set(ids).size).toBe(12);
    const listed = await store.list("u", { limit: 100, unreadOnly: false }, T0);
    expect(listed.items.map((n) => n.title)).toEqual(ids.map((_, i) => `n${i}`).reverse());
    expect(listed.items.map((n) => n.id)).toEqual([...ids].reverse());
  });

  it("keeps ids increasing when the clock steps back", async () => {
    const store = storeWith();
    const [first] = stored(await store.add(["u"], content("first"), T0 + 5000));
    const [second] = stored(await store.add(["u"], content("second"), T0));
    const a = parseNotificationId(first?.id ?? "");
    const b = parseNotificationId(second?.id ?? "");
    expect(a && b && (b.ms > a.ms || (b.ms === a.ms && b.seq > a.seq))).toBe(true);
    const listed = await store.list("u", { limit: 10, unreadOnly: false }, T0 + 5000);
    expect(listed.items.map((n) => n.title)).toEqual(["second", "first"]);
  });

  it("pages with an exclusive before cursor and reports hasMore", async () => {
    const store = storeWith();
    const titles = ["a", "b", "c", "d", "e"];
    // Same millisecond on purpose: the cursor must be exact within one.
    for (const t of titles) await store.add(["u"], content(t), T0);
    const page1 = await store.list("u", { limit: 2, unreadOnly: false }, T0);
    expect(page1.items.map((n) => n.title)).toEqual(["e", "d"]);
    expect(page1.hasMore).toBe(true);
    const before1 = parseNotificationId(page1.items[1]?.id ?? "");
    const page2 = await store.list("u", { limit: 2, before: before1, unreadOnly: false }, T0);
    expect(page2.items.map((n) => n.title)).toEqual(["c", "b"]);
    expect(page2.hasMore).toBe(true);
    const before2 = parseNotificationId(page2.items[1]?.id ?? "");
    const page3 = await store.list("u", { limit: 2, before: before2, unreadOnly: false }, T0);
    expect(page3.items.map((n) => n.title)).toEqual(["a"]);
    expect(page3.hasMore).toBe(false);
  });

  it("lists only unread notifications with unreadOnly, paging included", async () => {
    const store = storeWith();
    const added = [];
    for (const t of ["a", "b", "c", "d", "e"])
      added.push(stored(await store.add(["u"], content(t), T0 + added.length))[0]);
    await store.markRead("u", { ids: [added[1]?.id ?? "", added[3]?.id ?? ""] }, T0 + 10);
    const page1 = await store.list("u", { limit: 2, unreadOnly: true }, T0 + 10);
    expect(page1.items.map((n) => n.title)).toEqual(["e", "c"]);
    expect(page1).toMatchObject({ unreadCount: 3, hasMore: true });
    const page2 = await store.list(
      "u",
      { limit: 2, before: parseNotificationId(page1.items[1]?.id ?? ""), unreadOnly: true },
      T0 + 10,
    );
    expect(page2.items.map((n) => n.title)).toEqual(["a"]);
    expect(page2.hasMore).toBe(false);
  });

  it("marks ids read with readAt, ignores unknown ids and returns the exact count", async () => {
    const store = storeWith();
    const [a] = stored(await store.add(["u"], content("a"), T0));
    const [b] = stored(await store.add(["u"], content("b"), T0 + 1));
    expect(await store.markRead("u", { ids: [a?.id ?? "", "1-000000", a?.id ?? ""] }, T0 + 50)).toBe(1);
    // Reading again changes neither the count nor the first readAt.
    expect(await store.markRead("u", { ids: [a?.id ?? ""] }, T0 + 99)).toBe(1);
    const listed = await store.list("u", { limit: 10, unreadOnly: false }, T0 + 100);
    expect(listed.items.map((n) => [n.id, n.readAt])).toEqual([
      [b?.id, null],
      [a?.id, T0 + 50],
    ]);
    expect(listed.unreadCount).toBe(1);
  });

  it("marks everything read with all, and only for that user", async () => {
    const store = storeWith();
    for (let i = 0; i < 3; i++) await store.add(["u", "other"], content(`n${i}`), T0 + i);
    expect(await store.markRead("u", { all: true }, T0 + 10)).toBe(0);
    expect(await store.unreadCount("u", T0 + 10)).toBe(0);
    expect(await store.unreadCount("other", T0 + 10)).toBe(3);
    const listed = await store.list("u", { limit: 10, unreadOnly: false }, T0 + 10);
    expect(listed.items.every((n) => n.readAt === T0 + 10)).toBe(true);
    expect(await store.markRead("nobody", { all: true }, T0 + 10)).toBe(0);
  });

  it("keeps the newest `limit` notifications and drops the others from the unread count", async () => {
    const store = storeWith({ limit: 3 });
    const added = [];
    for (let i = 0; i < 5; i++) added.push(stored(await store.add(["u"], content(`n${i}`), T0 + i))[0]);
    const listed = await store.list("u", { limit: 10, unreadOnly: false }, T0 + 10);
    expect(listed.items.map((n) => n.title)).toEqual(["n4", "n3", "n2"]);
    expect(listed).toMatchObject({ unreadCount: 3, hasMore: false });
    // A dropped id is gone: reading it changes nothing.
    expect(await store.markRead("u", { ids: [added[0]?.id ?? ""] }, T0 + 10)).toBe(3);
  });

  it("forgets notifications older than the TTL, unread count included", async () => {
    const store = storeWith();
    await store.add(["u"], content("old"), T0);
    await store.add(["u"], content("newer"), T0 + TTL / 2);
    expect(await store.unreadCount("u", T0 + TTL)).toBe(2);
    const later = await store.list("u", { limit: 10, unreadOnly: false }, T0 + TTL + 1);
    expect(later.items.map((n) => n.title)).toEqual(["newer"]);
    expect(later.unreadCount).toBe(1);
    expect(await store.unreadCount("u", T0 + TTL + 1)).toBe(1);
    const muchLater = T0 + TTL / 2 + TTL + 1;
    expect(await store.list("u", { limit: 10, unreadOnly: false }, muchLater)).toEqual({
      items: [],
      unreadCount: 0,
      hasMore: false,
    });
    // Writing after the expiry starts clean rather than resurrecting anything.
    await store.add(["u"], content("fresh"), muchLater);
    expect(await store.markRead("u", { all: true }, muchLater)).toBe(0);
    const fresh = await store.list("u", { limit: 10, unreadOnly: false }, muchLater);
    expect(fresh.items.map((n) => n.title)).toEqual(["fresh"]);
  });

  it("answers a repeated idempotency key with each user's original notification, storing nothing new", async () => {
    const store = storeWith();
    const key = { hash: "k1", ttlMs: 60_000 };
    const first = await store.add(["u", "v"], content("once"), T0, key);
    expect(first.map((r) => r.replayed)).toEqual([false, false]);
    const again = await store.add(["u", "w"], content("changed"), T0 + 1, key);
    expect(again[0]).toEqual({ id: first[0]?.id, notification: first[0]?.notification, replayed: true });
    // A user the key had not reached yet gets theirs now: the key is remembered per user.
    expect(again[1]?.replayed).toBe(false);
    const listed = await store.list("u", { limit: 10, unreadOnly: false }, T0 + 2);
    expect(listed.items.map((n) => n.title)).toEqual(["once"]);
    expect(listed.unreadCount).toBe(1);
    const other = await store.add(["u"], content("other key"), T0 + 3, { hash: "k2", ttlMs: 60_000 });
    expect(other[0]?.replayed).toBe(false);
  });

  it("creates one notification per user for a key however many requests carry it at once", async () => {
    const store = storeWith();
    const key = { hash: "race", ttlMs: 60_000 };
    const results = await Promise.all(
      Array.from({ length: 20 }, () => store.add(["u"], content("race"), T0, key)),
    );
    expect(new Set(results.map((r) => r[0]?.id)).size).toBe(1);
    expect(results.filter((r) => !r[0]?.replayed)).toHaveLength(1);
    expect(await store.unreadCount("u", T0)).toBe(1);
  });

  it("lets an idempotency key lapse after its TTL", async () => {
    const store = storeWith();
    const key = { hash: "k", ttlMs: 40 };
    await store.add(["u"], content("first"), Date.now(), key);
    await sleep(60);
    const later = await store.add(["u"], content("second"), Date.now(), key);
    expect(later[0]?.replayed).toBe(false);
    expect(await store.unreadCount("u", Date.now())).toBe(2);
  });
});

describe("Redis notification keys", () => {
  it("keep one user's keys under one hash tag, with the TTL and without another user's data", async () => {
    const prefix = `t${randomBytes(4).toString("hex")}:`;
    const store = createRedisNotificationStore({ redis, keyPrefix: prefix, limit: 10, ttlMs: TTL });
    const [n] = stored(await store.add(["alice", "bob"], content("x"), Date.now()));
    await store.markRead("alice", { ids: [n?.id ?? ""] }, Date.now());
    const keys = (await redis.keys(`${prefix}*`)).sort();
    expect(keys).toEqual(
      [
        `${prefix}notif:{alice}:ids`,
        `${prefix}notif:{alice}:items`,
        `${prefix}notif:{alice}:readat`,
        `${prefix}notif:{bob}:ids`,
        `${prefix}notif:{bob}:items`,
        `${prefix}notif:{bob}:unread`,
      ].sort(),
    );
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(TTL);
    }
  });

  it("keep a read state as long as the notification it describes, whatever is added later", async () => {
    const prefix = `t${randomBytes(4).toString("hex")}:`;
    const store = createRedisNotificationStore({ redis, keyPrefix: prefix, limit: 10, ttlMs: TTL });
    const [first] = stored(await store.add(["carol"], content("first"), Date.now()));
    await sleep(50);
    await store.markRead("carol", { ids: [first?.id ?? ""] }, Date.now());
    await sleep(50);
    await store.add(["carol"], content("second"), Date.now());
    const readAt = await redis.pttl(`${prefix}notif:{carol}:readat`);
    const firstExpiresIn = (first?.createdAt ?? 0) + TTL - Date.now();
    expect(readAt).toBeGreaterThanOrEqual(firstExpiresIn);
    const { items } = await store.list("carol", { limit: 10, unreadOnly: false }, Date.now());
    expect(items.map((n) => [n.title, n.readAt !== null])).toEqual([
      ["second", false],
      ["first", true],
    ]);
  });
});
