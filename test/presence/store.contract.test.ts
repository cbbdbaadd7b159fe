import { randomBytes } from "node:crypto";
import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryPresenceStore } from "../../src/presence/presence-store-memory.js";
import { createRedisPresenceStore } from "../../src/presence/presence-store-redis.js";
import type { PresenceStore, PresenceStoreOptions } from "../../src/presence/store.js";
import { eventually } from "../helpers/client.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

const GRACE = 300;
const options: PresenceStoreOptions = { graceMs: GRACE, retentionMs: 24 * 3600_000 };
const T0 = 1_700_000_000_000;

/** `count` views of ONE shared presence state, as `count` instances would see it. */
type Backend = (count: number, opts?: PresenceStoreOptions) => PresenceStore[];

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
    (count, opts = options) => {
      const store = createMemoryPresenceStore(opts);
      return Array.from({ length: count }, () => store);
    },
  ],
  [
    "redis",
    (count, opts = options) => {
      const keyPrefix = uniquePrefix();
      return Array.from({ length: count }, () => {
        const redis = redisServer.client();
        clients.push(redis);
        return createRedisPresenceStore({ redis, keyPrefix, ...opts });
      });
    },
  ],
  [
    // Proves the hash tags: a script whose keys spanned slots would fail with CROSSSLOT.
    "redis cluster",
    (count, opts = options) => {
      const keyPrefix = uniquePrefix();
      return Array.from({ length: count }, () => {
        const redis = new Cluster(redisCluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })));
        redis.on("error", () => {});
        clients.push(redis);
        return createRedisPresenceStore({ redis, keyPrefix, ...opts });
      });
    },
  ],
];

const conn = (userId: string, socketId: string, instance = "i1") => ({ userId, socketId, instance });

describe.each(backends)("presence store contract (%s)", (_name, backend) => {
  it("announces a user online once, however many devices connect", async () => {
    const [store] = backend(1) as [PresenceStore];
    const first = await store.connect(conn("ann", "s1"), T0);
    expect(first).toEqual({
      state: { userId: "ann", status: "online", lastSeen: T0, devices: 1 },
      changed: true,
    });
    const second = await store.connect(conn("ann", "s2"), T0 + 10);
    expect(second.changed).toBe(false);
    expect(second.state).toMatchObject({ status: "online", devices: 2 });
  });

  it("keeps a user online while one device remains and takes them offline once the grace after the last is over", async () => {
    const [store] = backend(1) as [PresenceStore];
    await store.connect(conn("bob", "s1"), T0);
    await store.connect(conn("bob", "s2"), T0);

    const one = await store.disconnect(conn("bob", "s1"), { now: T0 + 100, lastSeen: T0 + 100 });
    expect(one).toMatchObject({ changed: false, removed: true, state: { status: "online", devices: 1 } });
    expect(one.offlineAt).toBeUndefined();

    const last = await store.disconnect(conn("bob", "s2"), { now: T0 + 200, lastSeen: T0 + 200 });
    expect(last).toMatchObject({ changed: false, removed: true, offlineAt: T0 + 200 + GRACE });
    expect(last.state).toMatchObject({ status: "online", devices: 0 });

    expect((await store.settle("bob", T0 + 199 + GRACE)).changed).toBe(false);
    expect(await store.get(["bob"], T0 + 199 + GRACE)).toEqual([
      { userId: "bob", status: "online", lastSeen: T0 + 200, devices: 0 },
    ]);
    const settled = await store.settle("bob", T0 + 200 + GRACE);
    expect(settled).toEqual({
      state: { userId: "bob", status: "offline", lastSeen: T0 + 200, devices: 0 },
      changed: true,
    });
    expect((await store.settle("bob", T0 + 300 + GRACE)).changed).toBe(false);
  });

  it("cancels the offline when a connection comes back inside the grace", async () => {
    const [store] = backend(1) as [PresenceStore];
    await store.connect(conn("cid", "s1"), T0);
    await store.disconnect(conn("cid", "s1"), { now: T0, lastSeen: T0 });
    const back = await store.connect(conn("cid", "s2"), T0 + GRACE - 1);
    expect(back.changed).toBe(false);
    expect(back.offlineAt).toBeUndefined();
    expect((await store.settle("cid", T0 + GRACE * 2)).changed).toBe(false);
    expect(await store.settleDue(T0 + GRACE * 2, 100)).toEqual([]);
    expect((await store.get(["cid"], T0 + GRACE * 2))[0]).toMatchObject({ status: "online", devices: 1 });
  });

  it("does not take a user offline when a disconnect that was not their last comes due", async () => {
    const [store] = backend(1) as [PresenceStore];
    await store.connect(conn("dan", "s1"), T0);
    await store.connect(conn("dan", "s2"), T0);
    await store.disconnect(conn("dan", "s1"), { now: T0, lastSeen: T0 });
    expect(await store.settleDue(T0 + GRACE * 2, 100)).toEqual([]);
    expect((await store.get(["dan"], T0 + GRACE * 2))[0]).toMatchObject({ status: "online", devices: 1 });
  });

  it("takes each due user offline exactly once when several instances sweep at the same time", async () => {
    const stores = backend(3);
    const [store] = stores as [PresenceStore];
    const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
    for (const u of users) {
      await store.connect(conn(u, "s1"), T0);
      await store.disconnect(conn(u, "s1"), { now: T0, lastSeen: T0 });
    }
    await store.connect(conn("u0", "s2"), T0 + 1);

    const changes = (await Promise.all(stores.map((s) => s.settleDue(T0 + GRACE, 100)))).flat();
    expect(changes.map((c) => c.userId).sort()).toEqual(users.slice(1).sort());
    expect(changes.every((c) => c.status === "offline" && c.lastSeen === T0)).toBe(true);
    expect((await Promise.all(stores.map((s) => s.settleDue(T0 + GRACE * 3, 100)))).flat()).toEqual([]);
  });

  it("reports a status or text change once and re-setting the same value not at all", async () => {
    const stores = backend(2);
    const [store] = stores as [PresenceStore];
    await store.connect(conn("eve", "s1"), T0);

    const away = await store.setStatus("eve", "away", "lunch", T0 + 1);
    expect(away).toEqual({
      state: { userId: "eve", status: "away", text: "lunch", lastSeen: T0 + 1, devices: 1 },
      changed: true,
    });
    const again = await store.setStatus("eve", "away", "lunch", T0 + 2);
    expect(again.changed).toBe(false);
    expect(again.state.lastSeen).toBe(T0 + 2);

    const cleared = await store.setStatus("eve", "away", undefined, T0 + 3);
    expect(cleared.changed).toBe(true);
    expect(cleared.state.text).toBeUndefined();

    const racing = await Promise.all(stores.map((s) => s.setStatus("eve", "busy", "call", T0 + 4)));
    expect(racing.filter((r) => r.changed)).toHaveLength(1);
  });

  it("resets the set status to online when the user goes offline and keeps the text", async () => {
    const [store] = backend(1) as [PresenceStore];
    await store.connect(conn("fay", "s1"), T0);
    await store.setStatus("fay", "busy", "in a meeting", T0);
    await store.disconnect(conn("fay", "s1"), { now: T0 + 1, lastSeen: T0 + 1 });
    expect((await store.settle("fay", T0 + 1 + GRACE)).state).toEqual({
      userId: "fay",
      status: "offline",
      text: "in a meeting",
      lastSeen: T0 + 1,
      devices: 0,
    });
    const back = await store.connect(conn("fay", "s2"), T0 + 5000);
    expect(back.changed).toBe(true);
    expect(back.state).toMatchObject({ status: "online", text: "in a meeting", devices: 1 });
  });

  it("reaps an instance that stopped heart-beating: its users go offline once, users it shared stay online", async () => {
    const stores = backend(2);
    const [store] = stores as [PresenceStore];
    await store.connect(conn("gus", "s1", "dead"), T0);
    await store.connect(conn("hal", "s2", "dead"), T0);
    await store.connect(conn("hal", "s3", "live"), T0);
    // The registry declared "dead" dead (last heartbeat T0): every instance's sweep reaps it at once.
    const dead = { registration: "dead", lastBeat: T0 };

    const reaped = await Promise.all(stores.map((s) => s.reap(dead, T0 + 1000)));
    expect(reaped.flatMap((r) => r.changes)).toEqual([
      { userId: "gus", status: "offline", lastSeen: T0, devices: 0 },
    ]);
    expect(reaped.map((r) => r.done)).toEqual([true, true]);
    expect(await store.get(["gus", "hal"], T0 + 1000)).toEqual([
      { userId: "gus", status: "offline", lastSeen: T0, devices: 0 },
      { userId: "hal", status: "online", lastSeen: T0, devices: 1 },
    ]);
    expect(await store.reap(dead, T0 + 1001)).toEqual({ changes: [], done: true });
  });

  it("gives a reaped user the rest of their grace when the instance died less than a grace ago", async () => {
    const [store] = backend(1, { ...options, graceMs: 5000 }) as [PresenceStore];
    await store.connect(conn("ian", "s1", "dead"), T0);
    expect((await store.reap({ registration: "dead", lastBeat: T0 }, T0 + 1000)).changes).toEqual([]);
    expect((await store.get(["ian"], T0 + 1000))[0]).toMatchObject({ status: "online", devices: 0 });
    expect(await store.settleDue(T0 + 4999, 100)).toEqual([]);
    expect(await store.settleDue(T0 + 5000, 100)).toEqual([
      { userId: "ian", status: "offline", lastSeen: T0, devices: 0 },
    ]);
  });

  it("reaps nothing of an instance that removed its connections when it stopped", async () => {
    const [store] = backend(1) as [PresenceStore];
    await store.connect(conn("jo", "s1", "gone"), T0);
    await store.disconnect(conn("jo", "s1", "gone"), { now: T0 + 1, lastSeen: T0 + 1 });
    // Its registration is declared dead once it stopped heart-beating.
    expect(await store.reap({ registration: "gone", lastBeat: T0 + 1 }, T0 + 10_000)).toEqual({
      changes: [],
      done: true,
    });
    // The user still went through the grace like any disconnect.
    expect(await store.settleDue(T0 + 1 + GRACE, 100)).toEqual([
      { userId: "jo", status: "offline", lastSeen: T0 + 1, devices: 0 },
    ]);
  });

  it("records a connection within the cap and refuses one past it, writing nothing, however many race", async () => {
    const stores = backend(3);
    const [store] = stores as [PresenceStore];
    // 30 handshakes of one user on three instances at once, with a cap of 10.
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, n) =>
        (stores[n % 3] as PresenceStore).connectWithin(conn("kim", `s${n}`, `i${(n % 3) + 1}`), T0, 10),
      ),
    );
    expect(results.filter((r) => r !== undefined)).toHaveLength(10);
    expect(results.filter((r) => r?.changed)).toHaveLength(1);
    expect((await store.get(["kim"], T0))[0]).toMatchObject({ status: "online", devices: 10 });
    // A connection already recorded is not counted twice; another user has their own count.
    const admitted = results.findIndex((r) => r !== undefined);
    const again = conn("kim", `s${admitted}`, `i${(admitted % 3) + 1}`);
    expect(await store.connectWithin(again, T0 + 1, 10)).toMatchObject({ state: { devices: 10 } });
    expect(await store.connectWithin(conn("lee", "s0"), T0, 10)).toMatchObject({ changed: true });
  });

  it("counts a removed connection out, and a reaped instance's connections once it is reaped", async () => {
    const [store] = backend(1) as [PresenceStore];
    expect(await store.connectWithin(conn("max", "s1", "dead"), T0, 2)).toBeDefined();
    expect(await store.connectWithin(conn("max", "s2", "live"), T0, 2)).toBeDefined();
    expect(await store.connectWithin(conn("max", "s3", "live"), T0, 2)).toBeUndefined();
    await store.disconnect(conn("max", "s2", "live"), { now: T0 + 1, lastSeen: T0 + 1 });
    expect(await store.connectWithin(conn("max", "s3", "live"), T0 + 1, 2)).toBeDefined();
    expect(await store.connectWithin(conn("max", "s4", "live"), T0 + 1, 2)).toBeUndefined();
    await store.reap({ registration: "dead", lastBeat: T0 }, T0 + 1000);
    expect(await store.connectWithin(conn("max", "s4", "live"), T0 + 1000, 2)).toBeDefined();
  });

  it("counts the connections each registration holds", async () => {
    const [store] = backend(1) as [PresenceStore];
    await store.connect(conn("ann", "s1", "i1"), T0);
    await store.connect(conn("ann", "s2", "i2"), T0);
    await store.connect(conn("bob", "s3", "i2"), T0);
    expect(await store.connectionCount("i1")).toBe(1);
    expect(await store.connectionCount("i2")).toBe(2);
    await store.disconnect(conn("bob", "s3", "i2"), { now: T0 + 1, lastSeen: T0 + 1 });
    expect(await store.connectionCount("i2")).toBe(1);
    expect(await store.connectionCount("none")).toBe(0);
  });

  it("reads users never seen as offline with lastSeen 0, in the order asked", async () => {
    const [store] = backend(1) as [PresenceStore];
    await store.connect(conn("kim", "s1"), T0);
    expect(await store.get(["nobody", "kim"], T0)).toEqual([
      { userId: "nobody", status: "offline", lastSeen: 0, devices: 0 },
      { userId: "kim", status: "online", lastSeen: T0, devices: 1 },
    ]);
  });

  it("ignores the removal of a connection it does not hold", async () => {
    const [store] = backend(1) as [PresenceStore];
    await store.connect(conn("lea", "s1"), T0);
    const unknown = await store.disconnect(conn("lea", "nope"), { now: T0, lastSeen: T0 });
    expect(unknown).toMatchObject({
      removed: false,
      changed: false,
      state: { status: "online", devices: 1 },
    });
    await store.disconnect(conn("lea", "s1"), { now: T0, lastSeen: T0 });
    const twice = await store.disconnect(conn("lea", "s1"), { now: T0, lastSeen: T0 });
    expect(twice).toMatchObject({ removed: false, changed: false });
  });

  it("forgets an offline user's lastSeen and text after the retention, never an online user's", async () => {
    const [store] = backend(1, { graceMs: 0, retentionMs: 200 }) as [PresenceStore];
    const start = Date.now();
    await store.connect(conn("max", "s1"), start);
    await store.setStatus("max", "away", "brb", start);
    await store.connect(conn("ned", "s1"), start);
    const off = await store.disconnect(conn("max", "s1"), { now: start, lastSeen: start });
    expect(off.changed).toBe(true);
    await eventually(async () => (await store.get(["max"], Date.now()))[0]?.lastSeen === 0, 3000);
    expect((await store.get(["max", "ned"], Date.now())).map((s) => s.status)).toEqual(["offline", "online"]);
    expect((await store.get(["max"], Date.now()))[0]?.text).toBeUndefined();
    expect((await store.get(["ned"], Date.now()))[0]?.lastSeen).toBe(start);
  });
});

describe("redis presence store keys", () => {
  it("keeps every key under REDIS_KEY_PREFIX, with a user's keys under one hash tag", async () => {
    const redis = redisServer.client();
    clients.push(redis);
    const keyPrefix = `k${randomBytes(4).toString("hex")}:`;
    const store = createRedisPresenceStore({ redis, keyPrefix, ...options });
    const now = Date.now();
    await store.connect(conn("ola", "s1"), now);
    await store.connect(conn("pia", "s1"), now);
    await store.disconnect(conn("pia", "s1"), { now, lastSeen: now });

    const keys = (await redis.keys("*")).filter((k) => k.startsWith(keyPrefix)).sort();
    expect(keys).toEqual(
      [
        `${keyPrefix}presence:{ola}:conns`,
        `${keyPrefix}presence:{ola}:state`,
        `${keyPrefix}presence:{pia}:state`,
        `${keyPrefix}presence:instance:{i1}:conns`,
        `${keyPrefix}{presence}:pending`,
      ].sort(),
    );
    // Online state never expires; it only gets a TTL once the user is offline.
    expect(await redis.pttl(`${keyPrefix}presence:{ola}:state`)).toBe(-1);
  });
});
