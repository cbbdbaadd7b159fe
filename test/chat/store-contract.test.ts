import { Cluster, type Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { roomChannel, roomKey } from "../../src/chat/keys.js";
import type { MessageStore, NewChange, NewMessage } from "../../src/chat/message-store.js";
import { createMemoryMessageStore } from "../../src/chat/message-store-memory.js";
import { createRedisMessageStore } from "../../src/chat/message-store-redis.js";
import { messageFromPayload } from "../../src/chat/record.js";
import {
  createRateLimiterFactory,
  type RateLimiter,
  type RateLimitRule,
} from "../../src/infra/rate-limit.js";
import type { Message } from "../../src/protocol/index.js";
import { AppError, compareMessageIds } from "../../src/protocol/index.js";
import { sleep } from "../helpers/client.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

/**
 * The one contract both message stores keep: the Redis store (production, many
 * instances) and the in-memory store (no REDIS_URL). Each test gets fresh stores; the
 * Redis ones a fresh key prefix on one private redis-server. (The member stores have
 * theirs in member-store.contract.test.ts.)
 */

interface StoreOptions {
  historyLimit?: number;
  retentionMs?: number;
  unreadCap?: number;
}

interface Backend {
  name: string;
  messages(options?: StoreOptions): MessageStore;
  /** Everything the stores publish on the room's feed from now on, in the order received. */
  feed(roomId: string): Promise<Message[]>;
  /** Make the store lose the room's state, as a Redis restart without persistence does (undefined: it cannot). */
  lose?(roomId: string): Promise<void>;
  /** A rate limit counted where production counts it with this store (Redis or memory). */
  limiter(name: string, rule: RateLimitRule): RateLimiter;
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

const memoryFeed: ((message: Message) => void)[] = [];
const subscribers: (Redis | Cluster)[] = [];

beforeEach(() => {
  prefixCounter += 1;
  prefix = `contract${prefixCounter}:`;
  memoryFeed.length = 0;
});

afterEach(() => {
  for (const s of subscribers.splice(0)) s.disconnect();
});

/** A subscriber of the room's channel, as an instance's feed is (SUBSCRIBE, or SSUBSCRIBE on a cluster). */
async function redisFeed(roomId: string, sharded: boolean): Promise<Message[]> {
  const channel = roomChannel(prefix, roomId);
  const received: Message[] = [];
  const sub = sharded
    ? new Cluster(
        redisCluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })),
        { shardedSubscribers: true },
      )
    : redisServer.client();
  sub.on("error", () => {});
  subscribers.push(sub);
  const onMessage = (ch: string, raw: string) => {
    if (ch === channel) received.push(messageFromPayload(roomId, raw));
  };
  sub.on(sharded ? "smessage" : "message", onMessage);
  await (sharded ? sub.ssubscribe(channel) : sub.subscribe(channel));
  return received;
}

/** Every key of a room, as a Redis that restarted without persistence would have none. */
async function loseRoom(client: Redis | Cluster, roomId: string): Promise<void> {
  for (const suffix of ["messages", "meta", "reads", "state"])
    await client.del(roomKey(prefix, roomId, suffix));
}

const defaults = { historyLimit: 1000, retentionMs: 0, unreadCap: 1000 };

const backends: Backend[] = [
  {
    name: "memory",
    messages: (o = {}) =>
      createMemoryMessageStore({
        ...defaults,
        ...o,
        idempotencyTtlMs: 86_400_000,
        now: Date.now,
        publish: (m) => {
          for (const listener of memoryFeed) listener(m);
        },
      }),
    feed: async (roomId) => {
      const received: Message[] = [];
      memoryFeed.push((m) => {
        if (m.roomId === roomId) received.push(m);
      });
      return received;
    },
    limiter: (name, rule) => createRateLimiterFactory({ keyPrefix: prefix })(name, rule),
  },
  {
    name: "redis",
    messages: (o = {}) =>
      createRedisMessageStore({
        redis,
        keyPrefix: prefix,
        ...defaults,
        ...o,
        idempotencyTtlSec: 86_400,
        publishCommand: () => "PUBLISH",
      }),
    feed: (roomId) => redisFeed(roomId, false),
    lose: (roomId) => loseRoom(redis, roomId),
    limiter: (name, rule) => createRateLimiterFactory({ redis, keyPrefix: prefix })(name, rule),
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
        publishCommand: () => "SPUBLISH",
      }),
    feed: (roomId) => redisFeed(roomId, true),
    lose: (roomId) => loseRoom(cluster, roomId),
    limiter: (name, rule) => createRateLimiterFactory({ redis: cluster, keyPrefix: prefix })(name, rule),
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
  const stored: Message[] = [];
  for (let i = 0; i < count; i++) {
    stored.push((await store.append(msg(roomId, senderId, `m${i}`))).message);
  }
  return stored;
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(10);
  }
}

describe.each(backends)("$name message store", (backend) => {
  it("stores a message at seq 1 of a new epoch, with the sender, the optional fields and the creation time", async () => {
    const store = backend.messages();
    const createdAt = Date.now();
    const { message, duplicate } = await store.append(
      msg("team:a", "alice", "hello <b>", { senderName: "Alice", clientMsgId: "c-1", createdAt }),
    );
    expect(duplicate).toBe(false);
    expect(message).toEqual({
      id: expect.stringMatching(/^\d+-1$/),
      roomId: "team:a",
      seq: 1,
      epoch: expect.stringMatching(/^[A-Za-z0-9_-]{8,32}$/),
      senderId: "alice",
      senderName: "Alice",
      text: "hello <b>",
      clientMsgId: "c-1",
      createdAt,
    });
    const page = await store.latest("team:a", 10);
    expect(page).toEqual({ epoch: message.epoch, seq: 1, messages: [message], hasMore: false });
  });

  it("leaves out senderName and clientMsgId when they were not given", async () => {
    const store = backend.messages();
    const { message } = await store.append(msg("team:a", "alice", "plain"));
    expect(Object.keys(message).sort()).toEqual([
      "createdAt",
      "epoch",
      "id",
      "roomId",
      "senderId",
      "seq",
      "text",
    ]);
    expect((await store.latest("team:a", 1)).messages[0]).toEqual(message);
  });

  it("numbers a room's messages 1, 2, 3… in one epoch, with ids ordered like their seq", async () => {
    const store = backend.messages();
    const stored = await appendMany(store, "team:a", 30);
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(new Set(stored.map((m) => m.epoch)).size).toBe(1);
    const ids = stored.map((m) => m.id);
    expect([...ids].sort(compareMessageIds)).toEqual(ids);
    expect(new Set(ids).size).toBe(30);
    expect(await store.head("team:a")).toEqual({ epoch: stored[0]?.epoch, seq: 30 });
  });

  it("keeps rooms apart, each with its own sequence", async () => {
    const store = backend.messages();
    const a = await store.append(msg("team:a", "alice", "in a"));
    const b = await store.append(msg("team:b", "alice", "in b"));
    expect([a.message.seq, b.message.seq]).toEqual([1, 1]);
    expect((await store.latest("team:a", 10)).messages.map((m) => m.text)).toEqual(["in a"]);
    expect((await store.latest("team:b", 10)).messages.map((m) => m.text)).toEqual(["in b"]);
  });

  it("returns the newest messages oldest first, with hasMore when older ones exist", async () => {
    const store = backend.messages();
    await appendMany(store, "team:a", 7);
    const page = await store.latest("team:a", 5);
    expect(page.messages.map((m) => m.text)).toEqual(["m2", "m3", "m4", "m5", "m6"]);
    expect(page.hasMore).toBe(true);
    expect(page.seq).toBe(7);
    const all = await store.latest("team:a", 7);
    expect(all.hasMore).toBe(false);
    const empty = await store.latest("team:empty", 5);
    expect(empty).toEqual({ epoch: expect.any(String), seq: 0, messages: [], hasMore: false });
  });

  it("gives an empty room its epoch once, so a later first message keeps it", async () => {
    const store = backend.messages();
    const before = await store.head("team:a");
    const { message } = await store.append(msg("team:a", "alice", "first"));
    expect(message.epoch).toBe(before.epoch);
    expect(await store.head("team:a")).toEqual({ epoch: before.epoch, seq: 1 });
  });

  it("publishes every stored message on the room's feed, in seq order", async () => {
    const store = backend.messages();
    const feed = await backend.feed("team:a");
    const stored = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.append(msg("team:a", "alice", `p${i}`))),
    );
    await waitFor(() => feed.length === 20);
    expect(feed.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const bySeq = new Map(stored.map(({ message }) => [message.seq, message]));
    for (const published of feed) expect(published).toEqual(bySeq.get(published.seq));
  });

  it("answers a retry with the same clientMsgId with the original message and publishes it again", async () => {
    const store = backend.messages();
    const feed = await backend.feed("team:a");
    const first = await store.append(msg("team:a", "alice", "once", { clientMsgId: "x1" }));
    const retry = await store.append(msg("team:a", "alice", "changed on retry", { clientMsgId: "x1" }));
    expect(retry.duplicate).toBe(true);
    expect(retry.message).toEqual(first.message);
    const otherSender = await store.append(msg("team:a", "bob", "bob's", { clientMsgId: "x1" }));
    const otherRoom = await store.append(msg("team:b", "alice", "elsewhere", { clientMsgId: "x1" }));
    expect(otherSender.duplicate).toBe(false);
    expect(otherRoom.duplicate).toBe(false);
    expect((await store.latest("team:a", 10)).messages.map((m) => m.text)).toEqual(["once", "bob's"]);
    await waitFor(() => feed.length === 3);
    expect(feed.map((m) => [m.seq, m.text])).toEqual([
      [1, "once"],
      [1, "once"],
      [2, "bob's"],
    ]);
  });

  it("finds the message a sender stored with a clientMsgId, and nothing for another sender, room or id", async () => {
    const store = backend.messages();
    const { message } = await store.append(msg("team:a", "alice", "kept", { clientMsgId: "s1" }));
    expect(await store.stored("team:a", "alice", "s1")).toEqual(message);
    expect(await store.stored("team:a", "bob", "s1")).toBeUndefined();
    expect(await store.stored("team:b", "alice", "s1")).toBeUndefined();
    expect(await store.stored("team:a", "alice", "s2")).toBeUndefined();
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
    const latest = await store.latest("team:a", 10);
    expect(latest.messages.map((m) => [m.seq, m.text])).toEqual([
      [1, "s1"],
      [2, "s2"],
      [3, "s3"],
      [4, "bob's"],
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

  it("recovers exactly the messages after a seq, in order, and nothing when the cursor is the head", async () => {
    const store = backend.messages();
    const stored = await appendMany(store, "team:a", 10);
    const page = await store.after("team:a", { seq: 4 }, 200);
    expect(page.found).toBe(true);
    expect(page.hasMore).toBe(false);
    expect(page.messages).toEqual(stored.slice(4));
    expect(page.seq).toBe(10);
    const upToDate = await store.after("team:a", { seq: 10 }, 200);
    expect(upToDate).toMatchObject({ messages: [], hasMore: false, found: true, seq: 10 });
    const fromStart = await store.after("team:a", { seq: 0 }, 200);
    expect(fromStart.messages).toEqual(stored);
  });

  it("recovers after a message id only when that message is still there with that id", async () => {
    const store = backend.messages();
    const stored = await appendMany(store, "team:a", 5);
    const third = stored[2] as Message;
    const [ms] = third.id.split("-");
    const byId = await store.after("team:a", { seq: 3, ms: Number(ms) }, 200);
    expect(byId.found).toBe(true);
    expect(byId.messages).toEqual(stored.slice(3));
    expect((await store.after("team:a", { seq: 3, ms: Number(ms) - 1 }, 200)).found).toBe(false);
  });

  it("pages a long recovery with hasMore", async () => {
    const store = backend.messages();
    const stored = await appendMany(store, "team:a", 12);
    const page = await store.after("team:a", { seq: 1 }, 5);
    expect(page.messages).toEqual(stored.slice(1, 6));
    expect(page.hasMore).toBe(true);
    const exact = await store.after("team:a", { seq: 7 }, 5);
    expect(exact.messages).toEqual(stored.slice(7));
    expect(exact.hasMore).toBe(false);
  });

  it("reports a cursor beyond the head, or of another room, as not found", async () => {
    const store = backend.messages();
    await appendMany(store, "team:a", 3);
    expect((await store.after("team:a", { seq: 4 }, 200)).found).toBe(false);
    expect((await store.after("team:a", { seq: 1000 }, 200)).found).toBe(false);
    expect((await store.after("team:other", { seq: 2 }, 200)).found).toBe(false);
  });

  it("keeps at least the history limit and drops the oldest beyond it, so their cursors are not found", async () => {
    const store = backend.messages({ historyLimit: 10 });
    // Redis trims whole stream nodes (MAXLEN ~): enough messages to fill several.
    const stored = await appendMany(store, "team:a", 400);
    expect((await store.after("team:a", { seq: 1 }, 200)).found).toBe(false);
    const latest = await store.latest("team:a", 10);
    expect(latest.messages).toEqual(stored.slice(-10));
    const recent = await store.after("team:a", { seq: 392 }, 200);
    expect(recent.found).toBe(true);
    expect(recent.messages).toEqual(stored.slice(392));
    // The retained log stays contiguous: after the oldest retained one, nothing is missing.
    const oldest = (await store.history("team:a", { afterSeq: 0, limit: 1 })).messages[0] as Message;
    const rest = await store.after("team:a", { seq: oldest.seq }, 1000);
    expect(rest.messages.map((m) => m.seq)).toEqual(
      Array.from({ length: 400 - oldest.seq }, (_, i) => oldest.seq + 1 + i),
    );
  });

  it("forgets messages older than the retention time", async () => {
    const store = backend.messages({ retentionMs: 300 });
    const old = (await store.append(msg("team:a", "alice", "old"))).message;
    await sleep(450);
    expect((await store.latest("team:a", 10)).messages).toEqual([]);
    const oldMs = Number(old.id.split("-")[0]);
    expect((await store.after("team:a", { seq: old.seq, ms: oldMs }, 200)).found).toBe(false);
    const fresh = await store.append(msg("team:a", "alice", "fresh"));
    expect((await store.latest("team:a", 10)).messages).toEqual([fresh.message]);
  });

  it("serves history pages before, after and between positions", async () => {
    const store = backend.messages();
    const stored = await appendMany(store, "team:a", 10);
    const before = await store.history("team:a", { beforeSeq: 6, limit: 3 });
    expect(before.messages).toEqual(stored.slice(2, 5));
    expect(before.hasMore).toBe(true);
    expect(before.epoch).toBe(stored[0]?.epoch);
    const oldest = await store.history("team:a", { beforeSeq: 3, limit: 3 });
    expect(oldest.messages).toEqual(stored.slice(0, 2));
    expect(oldest.hasMore).toBe(false);
    const after = await store.history("team:a", { afterSeq: 6, limit: 3 });
    expect(after.messages).toEqual(stored.slice(6, 9));
    expect(after.hasMore).toBe(true);
    const between = await store.history("team:a", { afterSeq: 2, beforeSeq: 6, limit: 10 });
    expect(between.messages).toEqual(stored.slice(2, 5));
    expect(between.hasMore).toBe(false);
    const newest = await store.history("team:a", { limit: 4 });
    expect(newest.messages).toEqual(stored.slice(6));
    expect((await store.history("team:a", { beforeSeq: 1, limit: 5 })).messages).toEqual([]);
    expect((await store.history("team:a", { afterSeq: 5, beforeSeq: 6, limit: 5 })).messages).toEqual([]);
  });

  it("starts a new epoch from seq 1 when the room's state was lost, so old positions are not found", async () => {
    if (!backend.lose) return;
    const store = backend.messages();
    const before = await appendMany(store, "team:a", 3);
    await backend.lose("team:a");
    const { message } = await store.append(msg("team:a", "alice", "after the loss"));
    expect(message.seq).toBe(1);
    expect(message.epoch).not.toBe(before[0]?.epoch);
    const page = await store.after("team:a", { seq: 3 }, 200);
    expect(page.found).toBe(false);
    expect(page.epoch).toBe(message.epoch);
  });

  it("fences the sequence: seqs up to the fence are never reused and recovering inside them fails", async () => {
    const store = backend.messages();
    await appendMany(store, "team:a", 3);
    await store.fence("team:a", 7);
    await store.fence("team:a", 5);
    expect((await store.head("team:a")).seq).toBe(7);
    expect((await store.after("team:a", { seq: 5 }, 200)).found).toBe(false);
    const { message } = await store.append(msg("team:a", "alice", "after the fence"));
    expect(message.seq).toBe(8);
    expect((await store.after("team:a", { seq: 7 }, 200)).messages).toEqual([message]);
  });

  it("moves the read position forwards only, never past the newest message", async () => {
    const store = backend.messages();
    expect(await store.markRead("team:a", "bob", "1-1")).toBeUndefined();
    const ids = (await appendMany(store, "team:a", 5)).map((m) => m.id);
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
    expect(await store.readState("team:a", "bob")).toEqual({ lastReadId: null, unread: 0, mentions: 0 });
    const ids = (await appendMany(store, "team:a", 4, "alice")).map((m) => m.id);
    await store.append(msg("team:a", "bob", "mine"));
    await appendMany(store, "team:a", 2, "carol");
    expect(await store.readState("team:a", "bob")).toEqual({ lastReadId: null, unread: 6, mentions: 0 });
    await store.markRead("team:a", "bob", ids[1] as string);
    expect(await store.readState("team:a", "bob")).toEqual({ lastReadId: ids[1], unread: 4, mentions: 0 });
  });

  it("counts apart the unread messages that mention the reader", async () => {
    const store = backend.messages();
    await store.append(msg("team:a", "alice", "@bob hi", { mentions: ["bob"] }));
    await store.append(msg("team:a", "alice", "@carol hi", { mentions: ["carol"] }));
    await store.append(msg("team:a", "alice", "mentions: none"));
    await store.append(msg("team:a", "bob", "@bob me", { mentions: ["bob"] }));
    const last = (await store.append(msg("team:a", "carol", "@carol @bob", { mentions: ["carol", "bob"] })))
      .message;
    expect(last.mentions).toEqual(["carol", "bob"]);
    expect(await store.readState("team:a", "bob")).toEqual({ lastReadId: null, unread: 4, mentions: 2 });
    expect((await store.readState("team:a", "carol")).mentions).toBe(1);
  });

  it("caps the unread count", async () => {
    const store = backend.messages({ unreadCap: 250 });
    await appendMany(store, "team:a", 300, "alice");
    expect((await store.readState("team:a", "bob")).unread).toBe(250);
  });
});

const change = (
  roomId: string,
  senderId: string,
  kind: NewChange["kind"],
  target: Message,
  extra: Partial<NewChange> = {},
): NewChange => ({ roomId, senderId, kind, target: target.id, text: "", createdAt: Date.now(), ...extra });

const react = (roomId: string, senderId: string, target: Message, emoji: string, on: boolean) =>
  change(roomId, senderId, "reaction", target, { emoji, on });

describe.each(backends)("$name message store: edits, deletes and reactions", (backend) => {
  it("appends a change as an entry of its own at the next seq, published like a message", async () => {
    const store = backend.messages();
    const feed = await backend.feed("team:a");
    const [m1] = await appendMany(store, "team:a", 1);
    const target = m1 as Message;
    const editedAt = Date.now();
    const { entry, message, duplicate } = await store.change(
      change("team:a", "alice", "edit", target, { text: "fixed", createdAt: editedAt, clientMsgId: "e1" }),
    );
    expect(duplicate).toBe(false);
    expect(entry).toEqual({
      id: expect.stringMatching(/^\d+-2$/),
      roomId: "team:a",
      seq: 2,
      epoch: target.epoch,
      senderId: "alice",
      text: "fixed",
      clientMsgId: "e1",
      createdAt: editedAt,
      kind: "edit",
      target: target.id,
    });
    expect(message).toEqual({ ...target, text: "fixed", editedAt, rev: 2 });
    await waitFor(() => feed.length === 2);
    expect(feed[1]).toEqual(entry);
    expect(await store.head("team:a")).toMatchObject({ seq: 2 });
  });

  it("shows every read the latest edit, a tombstone after a delete and the reaction counts, with rev", async () => {
    const store = backend.messages();
    const [a, b] = (await appendMany(store, "team:a", 2)) as [Message, Message];
    await store.change(change("team:a", "alice", "edit", a, { text: "a v2" }));
    await store.change(change("team:a", "alice", "edit", a, { text: "a v3" }));
    await store.change(react("team:a", "bob", b, "👍", true));
    await store.change(react("team:a", "carol", b, "👍", true));
    await store.change(react("team:a", "carol", b, ":tada:", true));
    await store.change(change("team:a", "alice", "delete", a));
    const page = await store.latest("team:a", 100);
    expect(page.seq).toBe(8);
    const [first, second, ...changes] = page.messages;
    expect(first).toMatchObject({ seq: 1, text: "", deleted: true, rev: 8 });
    expect(first?.editedAt).toBeUndefined();
    expect(second).toMatchObject({
      seq: 2,
      text: "m1",
      rev: 7,
      reactions: [
        { emoji: "👍", count: 2, users: ["bob", "carol"] },
        { emoji: ":tada:", count: 1, users: ["carol"] },
      ],
    });
    // Edits of a deleted message keep nothing of its text either.
    expect(changes.map((e) => [e.seq, e.kind, e.text])).toEqual([
      [3, "edit", ""],
      [4, "edit", ""],
      [5, "reaction", ""],
      [6, "reaction", ""],
      [7, "reaction", ""],
      [8, "delete", ""],
    ]);
    // The same state through every read: history, recovery and the lookup.
    expect((await store.history("team:a", { afterSeq: 0, limit: 2 })).messages).toEqual([first, second]);
    expect((await store.after("team:a", { seq: 0 }, 2)).messages).toEqual([first, second]);
    expect(await store.lookup("team:a", b.id)).toEqual({ status: "found", message: second });
  });

  it("keeps one reaction of each kind per user: a repeat or taking back one never given appends nothing", async () => {
    const store = backend.messages();
    const [m] = (await appendMany(store, "team:a", 1)) as [Message];
    const on = await store.change(react("team:a", "bob", m, "👍", true));
    expect(on.entry).toMatchObject({ seq: 2, kind: "reaction", emoji: "👍", on: true, target: m.id });
    const again = await store.change(react("team:a", "bob", m, "👍", true));
    expect(again.entry).toBeNull();
    expect(again.message.reactions).toEqual([{ emoji: "👍", count: 1, users: ["bob"] }]);
    expect((await store.change(react("team:a", "bob", m, "❤️", false))).entry).toBeNull();
    const off = await store.change(react("team:a", "bob", m, "👍", false));
    expect(off.entry).toMatchObject({ seq: 3, on: false });
    expect(off.message.reactions).toBeUndefined();
    expect((await store.head("team:a")).seq).toBe(3);
    // A delete of a deleted message changes nothing either.
    await store.change(change("team:a", "alice", "delete", m));
    expect((await store.change(change("team:a", "alice", "delete", m))).entry).toBeNull();
  });

  it("answers a repeated clientMsgId with the original entry, appending nothing", async () => {
    const store = backend.messages();
    const [m] = (await appendMany(store, "team:a", 1)) as [Message];
    const first = await store.change(change("team:a", "alice", "edit", m, { text: "v2", clientMsgId: "c" }));
    const retry = await store.change(change("team:a", "alice", "edit", m, { text: "v2", clientMsgId: "c" }));
    expect(retry.duplicate).toBe(true);
    expect(retry.entry).toEqual(first.entry);
    // Another kind with the same clientMsgId is another request.
    const reaction = await store.change(
      change("team:a", "alice", "reaction", m, { emoji: "👍", on: true, clientMsgId: "c" }),
    );
    expect(reaction.duplicate).toBe(false);
    expect((await store.head("team:a")).seq).toBe(3);
  });

  it("refuses with NOT_FOUND a target that is not a message of the room, was trimmed or was deleted", async () => {
    const store = backend.messages({ historyLimit: 10 });
    const [other] = (await appendMany(store, "team:b", 1)) as [Message];
    await sleep(5);
    const stored = await appendMany(store, "team:a", 300);
    // The id of another room's message, at a seq this room retains: not this room's message.
    const otherId = `${other.id.split("-")[0]}-299`;
    const newest = stored[299] as Message;
    const oldest = stored[0] as Message;
    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => "stored",
        (e: AppError) => `${e.code}: ${e.message}`,
      );
    expect(
      await refusal(store.change(change("team:a", "alice", "edit", other, { target: otherId, text: "x" }))),
    ).toBe("NOT_FOUND: no such message in this room");
    expect(await refusal(store.change(change("team:a", "alice", "edit", oldest, { text: "x" })))).toBe(
      "NOT_FOUND: the message is no longer in the room's retained history",
    );
    const beyond = { ...newest, id: "1-9999" };
    expect(await refusal(store.change(change("team:a", "alice", "delete", beyond)))).toBe(
      "NOT_FOUND: no such message in this room",
    );
    const { entry } = await store.change(react("team:a", "bob", newest, "👍", true));
    // A change entry is not a message to change.
    expect(await refusal(store.change(react("team:a", "bob", entry as Message, "👍", true)))).toBe(
      "NOT_FOUND: no such message in this room",
    );
    await store.change(change("team:a", "alice", "delete", newest));
    expect(await refusal(store.change(change("team:a", "alice", "edit", newest, { text: "x" })))).toBe(
      "NOT_FOUND: the message was deleted",
    );
    expect(await refusal(store.change(react("team:a", "bob", newest, "🎉", true)))).toBe(
      "NOT_FOUND: the message was deleted",
    );
    expect(await store.lookup("team:a", oldest.id)).toEqual({ status: "expired" });
    expect(await store.lookup("team:a", otherId)).toEqual({ status: "missing" });
  });

  it("holds at most 20 kinds of reaction per message", async () => {
    const store = backend.messages();
    const [m] = (await appendMany(store, "team:a", 1)) as [Message];
    for (let i = 0; i < 20; i++) await store.change(react("team:a", "bob", m, `:e${i}:`, true));
    await expect(store.change(react("team:a", "bob", m, ":e20:", true))).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    // An existing kind still takes more users.
    const more = await store.change(react("team:a", "carol", m, ":e0:", true));
    expect(more.message.reactions?.[0]).toEqual({ emoji: ":e0:", count: 2, users: ["bob", "carol"] });
  });

  it("summarizes a room: its head, last activity and newest message past the changes, never starting a log", async () => {
    const store = backend.messages();
    expect(await store.summary("team:none")).toBeUndefined();
    expect(await store.summary("team:none")).toBeUndefined();
    const [, m2] = (await appendMany(store, "team:a", 2)) as [Message, Message];
    // More changes after it than the summary's first batches hold.
    for (let i = 0; i < 12; i++) await store.change(react("team:a", `u${i}`, m2, "🎉", true));
    const { entry } = await store.change(react("team:a", "bob", m2, "👍", true));
    const summary = await store.summary("team:a");
    expect(summary).toMatchObject({
      epoch: m2.epoch,
      seq: 15,
      lastActivityAt: Number((entry as Message).id.split("-")[0]),
      lastMessage: { ...m2, rev: 15 },
    });
    expect(summary?.lastMessage?.reactions?.map((r) => [r.emoji, r.count])).toEqual([
      ["🎉", 12],
      ["👍", 1],
    ]);
    await store.head("team:empty");
    expect(await store.summary("team:empty")).toMatchObject({ seq: 0, lastActivityAt: 0 });
    expect((await store.summary("team:empty"))?.lastMessage).toBeUndefined();
  });

  it("does not count changes as unread messages", async () => {
    const store = backend.messages();
    const [m] = (await appendMany(store, "team:a", 1)) as [Message];
    await store.change(change("team:a", "alice", "edit", m, { text: "v2" }));
    await store.change(react("team:a", "carol", m, "👍", true));
    expect((await store.readState("team:a", "bob")).unread).toBe(1);
  });

  it("forgets the states of a lost room with its log", async () => {
    if (!backend.lose) return;
    const store = backend.messages();
    const [m] = (await appendMany(store, "team:a", 1)) as [Message];
    await store.change(change("team:a", "alice", "delete", m));
    await backend.lose("team:a");
    const fresh = (await store.append(msg("team:a", "alice", "new epoch"))).message;
    expect((await store.latest("team:a", 10)).messages).toEqual([fresh]);
  });
});
