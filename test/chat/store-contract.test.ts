import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { MemberStore, MessageStore, NewMessage } from "../../src/chat/store.js";
import { createMemoryMemberStore, createMemoryMessageStore } from "../../src/chat/store-memory.js";
import { createRedisMemberStore, createRedisMessageStore } from "../../src/chat/store-redis.js";
import {
  createRateLimiterFactory,
  type RateLimiter,
  type RateLimitRule,
} from "../../src/infra/rate-limit.js";
import { AppError, MESSAGE_ID_PATTERN } from "../../src/protocol/index.js";
import { sleep } from "../helpers/client.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

/**
 * The one contract both chat stores keep: the Redis store (production, many
 * instances) and the in-memory store (no REDIS_URL). Each test gets fresh stores; the
 * Redis ones a fresh key prefix on one private redis-server.
 */

interface StoreOptions {
  historyLimit?: number;
  retentionMs?: number;
  unreadCap?: number;
  memberTtlMs?: number;
}

interface Backend {
  name: string;
  messages(options?: StoreOptions): MessageStore;
  /** A rate limit counted where production counts it with this store (Redis or memory). */
  limiter(name: string, rule: RateLimitRule): RateLimiter;
  members(options?: StoreOptions): MemberStore;
}

let redisServer: RedisServer;
let redis: Redis;
// A real three-master cluster: every script must keep its keys in one slot ({roomId}).
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
  prefix = `contract${prefixCounter}:`;
});

const defaults = { historyLimit: 1000, retentionMs: 0, unreadCap: 1000, memberTtlMs: 2000 };

const backends: Backend[] = [
  {
    name: "memory",
    messages: (o = {}) =>
      createMemoryMessageStore({ ...defaults, ...o, idempotencyTtlMs: 86_400_000, now: Date.now }),
    limiter: (name, rule) => createRateLimiterFactory({ keyPrefix: prefix })(name, rule),
    members: () => createMemoryMemberStore(),
  },
  {
    name: "redis",
    messages: (o = {}) =>
      createRedisMessageStore({ redis, keyPrefix: prefix, ...defaults, ...o, idempotencyTtlSec: 86_400 }),
    limiter: (name, rule) => createRateLimiterFactory({ redis, keyPrefix: prefix })(name, rule),
    members: (o = {}) =>
      createRedisMemberStore({
        redis,
        keyPrefix: prefix,
        instanceId: "contract-instance",
        ttlMs: o.memberTtlMs ?? defaults.memberTtlMs,
      }),
  },
  {
    name: "redis cluster",
    messages: (o = {}) =>
      createRedisMessageStore({
        redis: cluster,
        keyPrefix: prefix,
        ...defaults,
        ...o,
        idempotencyTtlSec: 86_400,
      }),
    limiter: (name, rule) => createRateLimiterFactory({ redis: cluster, keyPrefix: prefix })(name, rule),
    members: (o = {}) =>
      createRedisMemberStore({
        redis: cluster,
        keyPrefix: prefix,
        instanceId: "contract-instance",
        ttlMs: o.memberTtlMs ?? defaults.memberTtlMs,
      }),
  },
];

const msg = (
  roomId: string,
  senderId: string,
  text: string,
  extra: Partial<NewMessage> = {},
): NewMessage => ({
  roomId,
  senderId,
  text,
  createdAt: Date.now(),
  ...extra,
});

async function appendMany(store: MessageStore, roomId: string, count: number, senderId = "alice") {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push((await store.append(msg(roomId, senderId, `m${i}`))).message.id);
  }
  return ids;
}

describe.each(backends)("$name message store", (backend) => {
  it("stores a message with a stream id, the sender, the optional fields and the creation time", async () => {
    const store = backend.messages();
    const createdAt = Date.now();
    const { message, duplicate } = await store.append(
      msg("team:a", "alice", "hello <b>", { senderName: "Alice", clientMsgId: "c-1", createdAt }),
    );
    expect(duplicate).toBe(false);
    expect(message).toEqual({
      id: expect.stringMatching(MESSAGE_ID_PATTERN),
      roomId: "team:a",
      senderId: "alice",
      senderName: "Alice",
      text: "hello <b>",
      clientMsgId: "c-1",
      createdAt,
    });
    const { messages } = await store.latest("team:a", 10);
    expect(messages).toEqual([message]);
  });

  it("leaves out senderName and clientMsgId when they were not given", async () => {
    const store = backend.messages();
    const { message } = await store.append(msg("team:a", "alice", "plain"));
    expect(Object.keys(message).sort()).toEqual(["createdAt", "id", "roomId", "senderId", "text"]);
    expect((await store.latest("team:a", 1)).messages[0]).toEqual(message);
  });

  it("gives increasing ids within a room, so the id is the order", async () => {
    const store = backend.messages();
    const ids = await appendMany(store, "team:a", 30);
    const sorted = [...ids].sort((a, b) => {
      const [am, as] = a.split("-").map(BigInt) as [bigint, bigint];
      const [bm, bs] = b.split("-").map(BigInt) as [bigint, bigint];
      return am === bm ? Number(as - bs) : Number(am - bm);
    });
    expect(ids).toEqual(sorted);
    expect(new Set(ids).size).toBe(30);
  });

  it("keeps rooms apart", async () => {
    const store = backend.messages();
    await store.append(msg("team:a", "alice", "in a"));
    await store.append(msg("team:b", "alice", "in b"));
    expect((await store.latest("team:a", 10)).messages.map((m) => m.text)).toEqual(["in a"]);
    expect((await store.latest("team:b", 10)).messages.map((m) => m.text)).toEqual(["in b"]);
  });

  it("returns the newest messages oldest first, with hasMore when older ones exist", async () => {
    const store = backend.messages();
    await appendMany(store, "team:a", 7);
    const page = await store.latest("team:a", 5);
    expect(page.messages.map((m) => m.text)).toEqual(["m2", "m3", "m4", "m5", "m6"]);
    expect(page.hasMore).toBe(true);
    const all = await store.latest("team:a", 7);
    expect(all.hasMore).toBe(false);
    expect(await store.latest("team:empty", 5)).toEqual({ messages: [], hasMore: false });
  });

  it("answers a retry with the same clientMsgId with the original message, once per sender and room", async () => {
    const store = backend.messages();
    const first = await store.append(msg("team:a", "alice", "once", { clientMsgId: "x1" }));
    const retry = await store.append(msg("team:a", "alice", "changed on retry", { clientMsgId: "x1" }));
    expect(retry.duplicate).toBe(true);
    expect(retry.message).toEqual(first.message);
    const otherSender = await store.append(msg("team:a", "bob", "bob's", { clientMsgId: "x1" }));
    const otherRoom = await store.append(msg("team:b", "alice", "elsewhere", { clientMsgId: "x1" }));
    expect(otherSender.duplicate).toBe(false);
    expect(otherRoom.duplicate).toBe(false);
    expect((await store.latest("team:a", 10)).messages.map((m) => m.text)).toEqual(["once", "bob's"]);
  });

  it("refuses an append past the sender's rate limit with RATE_LIMITED and retryAfterMs, storing nothing", async () => {
    const store = backend.messages();
    // 1 per minute sustained, 2 more as a burst: the fourth send within the minute is refused.
    const limiter = backend.limiter("send", {
      points: 1,
      durationSec: 60,
      burstPoints: 2,
      burstDurationSec: 30,
    });
    const send = (text: string, senderId = "alice") =>
      store.append(msg("team:a", senderId, text), { limiter, key: senderId }).then(
        () => "ok",
        (err: unknown) => err,
      );
    expect([await send("s1"), await send("s2"), await send("s3")]).toEqual(["ok", "ok", "ok"]);
    const refused = await send("s4");
    expect(refused).toBeInstanceOf(AppError);
    const body = (refused as AppError).toBody();
    expect(body.code).toBe("RATE_LIMITED");
    // The wait is the sooner of the two windows to reopen: the burst's 30 s.
    expect(body.retryAfterMs).toBeGreaterThan(25_000);
    expect(body.retryAfterMs).toBeLessThanOrEqual(30_000);
    expect(await send("bob's", "bob")).toBe("ok");
    expect((await store.latest("team:a", 10)).messages.map((m) => m.text)).toEqual([
      "s1",
      "s2",
      "s3",
      "bob's",
    ]);
  });

  it("counts on the same counters as the limiter itself, so both ways of consuming share one limit", async () => {
    const store = backend.messages();
    const limiter = backend.limiter("send", { points: 3, durationSec: 60 });
    await limiter.consume("alice");
    await limiter.consume("alice");
    await store.append(msg("team:a", "alice", "third"), { limiter, key: "alice" });
    await expect(
      store.append(msg("team:a", "alice", "fourth"), { limiter, key: "alice" }),
    ).rejects.toMatchObject({
      code: "RATE_LIMITED",
    });
    await expect(limiter.consume("alice")).rejects.toMatchObject({ code: "RATE_LIMITED" });
    expect((await store.latest("team:a", 10)).messages.map((m) => m.text)).toEqual(["third"]);
  });

  it("recovers exactly the messages after a cursor, in order", async () => {
    const store = backend.messages();
    const ids = await appendMany(store, "team:a", 10);
    const page = await store.since("team:a", ids[3] as string, 200);
    expect(page.found).toBe(true);
    expect(page.hasMore).toBe(false);
    expect(page.messages.map((m) => m.id)).toEqual(ids.slice(4));
    const upToDate = await store.since("team:a", ids[9] as string, 200);
    expect(upToDate).toEqual({ messages: [], hasMore: false, found: true });
  });

  it("pages a long recovery with hasMore", async () => {
    const store = backend.messages();
    const ids = await appendMany(store, "team:a", 12);
    const page = await store.since("team:a", ids[0] as string, 5);
    expect(page.messages.map((m) => m.id)).toEqual(ids.slice(1, 6));
    expect(page.hasMore).toBe(true);
    const exact = await store.since("team:a", ids[6] as string, 5);
    expect(exact.messages.map((m) => m.id)).toEqual(ids.slice(7));
    expect(exact.hasMore).toBe(false);
  });

  it("reports a cursor that was never in the room as not found", async () => {
    const store = backend.messages();
    const ids = await appendMany(store, "team:a", 3);
    const [ms, seq] = (ids[1] as string).split("-") as [string, string];
    const fabricated = `${ms}-${BigInt(seq) + 1000n}`;
    expect((await store.since("team:a", fabricated, 200)).found).toBe(false);
    expect((await store.since("team:other", ids[1] as string, 200)).found).toBe(false);
  });

  it("keeps at least the history limit and drops the oldest beyond it, so their cursors are not found", async () => {
    const store = backend.messages({ historyLimit: 10 });
    // Redis trims whole stream nodes (MAXLEN ~): enough messages to fill several.
    const ids = await appendMany(store, "team:a", 400);
    expect((await store.since("team:a", ids[0] as string, 200)).found).toBe(false);
    const latest = await store.latest("team:a", 10);
    expect(latest.messages.map((m) => m.id)).toEqual(ids.slice(-10));
    const recent = await store.since("team:a", ids[391] as string, 200);
    expect(recent.found).toBe(true);
    expect(recent.messages.map((m) => m.id)).toEqual(ids.slice(392));
  });

  it("forgets messages older than the retention time", async () => {
    const store = backend.messages({ retentionMs: 300 });
    const old = await store.append(msg("team:a", "alice", "old"));
    await sleep(450);
    expect(await store.latest("team:a", 10)).toEqual({ messages: [], hasMore: false });
    expect((await store.since("team:a", old.message.id, 200)).found).toBe(false);
  });

  it("serves history pages before, after and between cursors", async () => {
    const store = backend.messages();
    const ids = await appendMany(store, "team:a", 10);
    const before = await store.history("team:a", { before: ids[5], limit: 3 });
    expect(before.messages.map((m) => m.id)).toEqual(ids.slice(2, 5));
    expect(before.hasMore).toBe(true);
    const oldest = await store.history("team:a", { before: ids[2], limit: 3 });
    expect(oldest.messages.map((m) => m.id)).toEqual(ids.slice(0, 2));
    expect(oldest.hasMore).toBe(false);
    const after = await store.history("team:a", { after: ids[5], limit: 3 });
    expect(after.messages.map((m) => m.id)).toEqual(ids.slice(6, 9));
    expect(after.hasMore).toBe(true);
    const between = await store.history("team:a", { after: ids[1], before: ids[5], limit: 10 });
    expect(between.messages.map((m) => m.id)).toEqual(ids.slice(2, 5));
    expect(between.hasMore).toBe(false);
    const newest = await store.history("team:a", { limit: 4 });
    expect(newest.messages.map((m) => m.id)).toEqual(ids.slice(6));
    expect(await store.history("team:a", { before: "0-0", limit: 5 })).toEqual({
      messages: [],
      hasMore: false,
    });
  });

  it("moves the read position forwards only, never past the newest message", async () => {
    const store = backend.messages();
    expect(await store.markRead("team:a", "bob", "1-0")).toBeUndefined();
    const ids = await appendMany(store, "team:a", 5);
    expect(await store.markRead("team:a", "bob", ids[2] as string)).toEqual({
      lastReadId: ids[2],
      moved: true,
    });
    expect(await store.markRead("team:a", "bob", ids[1] as string)).toEqual({
      lastReadId: ids[2],
      moved: false,
    });
    expect(await store.markRead("team:a", "bob", "99999999999999-0")).toEqual({
      lastReadId: ids[4],
      moved: true,
    });
    expect((await store.readState("team:a", "bob")).lastReadId).toBe(ids[4]);
  });

  it("counts unread messages after the read position, leaving out the reader's own", async () => {
    const store = backend.messages();
    expect(await store.readState("team:a", "bob")).toEqual({ lastReadId: null, unread: 0 });
    const ids = await appendMany(store, "team:a", 4, "alice");
    await store.append(msg("team:a", "bob", "mine"));
    await appendMany(store, "team:a", 2, "carol");
    expect(await store.readState("team:a", "bob")).toEqual({ lastReadId: null, unread: 6 });
    await store.markRead("team:a", "bob", ids[1] as string);
    expect(await store.readState("team:a", "bob")).toEqual({ lastReadId: ids[1], unread: 4 });
  });

  it("caps the unread count", async () => {
    const store = backend.messages({ unreadCap: 250 });
    await appendMany(store, "team:a", 300, "alice");
    expect((await store.readState("team:a", "bob")).unread).toBe(250);
  });
});

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
  const instance = (name: string, ttlMs = 2000) =>
    createRedisMemberStore({ redis, keyPrefix: prefix, instanceId: name, ttlMs });

  it("collapses a user's sockets on two instances into one join and one leave", async () => {
    const a = instance("a");
    const b = instance("b");
    expect((await a.update("team:a", "alice", 1)).changes.map((c) => c.event)).toEqual(["join"]);
    expect((await b.update("team:a", "alice", 1)).changes).toEqual([]);
    expect((await b.online("team:a")).online).toEqual(["alice"]);
    expect((await a.update("team:a", "alice", 0)).changes).toEqual([]);
    expect((await b.update("team:a", "alice", 0)).changes.map((c) => c.event)).toEqual(["leave"]);
  });

  it("drops a silent instance's users after its lease, reporting each leave once", async () => {
    const live = instance("live", 400);
    const dead = instance("dead", 400);
    await dead.update("team:a", "alice", 1);
    await dead.update("team:a", "bob", 1);
    await live.update("team:a", "bob", 1);
    expect((await live.online("team:a")).online.sort()).toEqual(["alice", "bob"]);
    // `live` keeps refreshing (as its timer would); `dead` says nothing more.
    const changes: string[] = [];
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && changes.length === 0) {
      for (const c of (await live.refresh("team:a")).changes) changes.push(`${c.userId}:${c.event}`);
      await sleep(50);
    }
    expect(changes).toEqual(["alice:leave"]);
    expect((await live.refresh("team:a")).changes).toEqual([]);
    expect((await live.online("team:a")).online).toEqual(["bob"]);
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
});
