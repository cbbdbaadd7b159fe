import { randomBytes } from "node:crypto";
import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MemberStore } from "../../src/chat/member-store.js";
import { createMemoryMemberStore } from "../../src/chat/member-store-memory.js";
import { createRedisMemberStore } from "../../src/chat/member-store-redis.js";
import type { MessageStore } from "../../src/chat/message-store.js";
import { createMemoryMessageStore } from "../../src/chat/message-store-memory.js";
import { createRedisMessageStore } from "../../src/chat/message-store-redis.js";
import type { WebhookEventType } from "../../src/infra/config/sections.js";
import { createMemoryNotificationStore } from "../../src/notifications/notification-store-memory.js";
import { createRedisNotificationStore } from "../../src/notifications/notification-store-redis.js";
import type { NotificationStore } from "../../src/notifications/store.js";
import { createMemoryPresenceStore } from "../../src/presence/presence-store-memory.js";
import { createRedisPresenceStore, presenceKeys } from "../../src/presence/presence-store-redis.js";
import type { PresenceStore } from "../../src/presence/store.js";
import { renderData } from "../../src/webhooks/events.js";
import type { Outbox, OutboxEntry } from "../../src/webhooks/outbox.js";
import { createMemoryOutbox } from "../../src/webhooks/outbox-memory.js";
import { createRedisOutbox, createRedisOutboxWriter } from "../../src/webhooks/outbox-redis.js";
import { sleep } from "../helpers/client.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

const T0 = 1_700_000_000_000;
const GRACE = 300;
const ALL: WebhookEventType[] = [
  "user.online",
  "user.offline",
  "room.occupied",
  "room.vacated",
  "chat.message.created",
  "notification.undelivered",
];

/** One outbox and the stores that write to it, as one instance of a deployment would hold them. */
interface Setup {
  outbox: Outbox;
  presence: PresenceStore;
  members: MemberStore;
  messages: MessageStore;
  notifications: NotificationStore;
}
type Backend = (events?: WebhookEventType[]) => Setup;

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

const presenceOptions = { graceMs: GRACE, retentionMs: 24 * 3600_000 };
const messageOptions = { historyLimit: 100, retentionMs: 0, idempotencyTtlSec: 60, unreadCap: 100 };
const notificationOptions = { limit: 100, ttlMs: 86_400_000 };

function redisSetup(redis: Redis | Cluster, events: WebhookEventType[]): Setup {
  clients.push(redis);
  const keyPrefix = `o${randomBytes(4).toString("hex")}:`;
  const writer = createRedisOutboxWriter({ redis, keyPrefix, events });
  return {
    outbox: createRedisOutbox({ redis, keyPrefix, deadLetterMax: 100 }),
    presence: createRedisPresenceStore({ redis, keyPrefix, ...presenceOptions, outbox: writer }),
    members: createRedisMemberStore({ redis, keyPrefix, registration: () => "reg-1", outbox: writer }),
    messages: createRedisMessageStore({
      redis,
      keyPrefix,
      ...messageOptions,
      publishCommand: () => "PUBLISH",
      outbox: writer,
    }),
    notifications: createRedisNotificationStore({
      redis,
      keyPrefix,
      ...notificationOptions,
      outbox: { writer, connsKey: presenceKeys(keyPrefix).conns },
    }),
  };
}

const backends: [string, Backend][] = [
  [
    "memory",
    (events = ALL) => {
      const outbox = createMemoryOutbox({ deadLetterMax: 100 });
      const writer = outbox.writer(events);
      const presence = createMemoryPresenceStore({ ...presenceOptions, outbox: writer });
      return {
        outbox,
        presence,
        members: createMemoryMemberStore({ outbox: writer }),
        messages: createMemoryMessageStore({
          ...messageOptions,
          idempotencyTtlMs: 60_000,
          now: Date.now,
          publish: () => {},
          outbox: writer,
        }),
        notifications: createMemoryNotificationStore({
          ...notificationOptions,
          outbox: { writer, hasConnections: (userId) => presence.connections(userId) > 0 },
        }),
      };
    },
  ],
  ["redis (written by the scripts)", (events = ALL) => redisSetup(redisServer.client(), events)],
  [
    "redis cluster (written after the scripts)",
    (events = ALL) => {
      const redis = new Cluster(redisCluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })));
      redis.on("error", () => {});
      return redisSetup(redis, events);
    },
  ],
];

const conn = (userId: string, socketId: string, instance = "i1") => ({ userId, socketId, instance });
const brief = (entries: OutboxEntry[]) => entries.map((e) => ({ type: e.type, data: JSON.parse(e.data) }));

describe.each(backends)("webhook outbox contract (%s)", (_name, backend) => {
  it("gets one user.online and one user.offline per transition, whatever the devices", async () => {
    const { outbox, presence } = backend();
    await presence.connect(conn("ann", "s1"), T0);
    await presence.connect(conn("ann", "s2", "i2"), T0 + 1);
    await presence.disconnect(conn("ann", "s1"), { now: T0 + 2, lastSeen: T0 + 2 });
    await presence.disconnect(conn("ann", "s2", "i2"), { now: T0 + 3, lastSeen: T0 + 3 });
    // Back inside the grace: no transition at all.
    await presence.connect(conn("ann", "s3"), T0 + 4);
    await presence.disconnect(conn("ann", "s3"), { now: T0 + 5, lastSeen: T0 + 5 });
    expect(await presence.settleDue(T0 + 5 + GRACE, 10)).toHaveLength(1);
    await presence.settleDue(T0 + 10 + GRACE, 10);

    expect(brief(await outbox.readNew("c1", 10))).toEqual([
      { type: "user.online", data: { userId: "ann", at: T0 } },
      { type: "user.offline", data: { userId: "ann", lastSeen: T0 + 5 } },
    ]);
  });

  it("writes only the events asked for", async () => {
    const { outbox, presence } = backend(["user.offline"]);
    await presence.connect(conn("bob", "s1"), T0);
    await presence.disconnect(conn("bob", "s1"), { now: T0 + GRACE, lastSeen: T0 });
    expect(brief(await outbox.readNew("c1", 10))).toEqual([
      { type: "user.offline", data: { userId: "bob", lastSeen: T0 } },
    ]);
  });

  it("gets room.occupied for the first member in and room.vacated for the last one out", async () => {
    const { outbox, members } = backend();
    await members.update("team:a", "ann", 1);
    await members.update("team:a", "bob", 2);
    await members.update("team:a", "ann", 0);
    await members.update("team:a", "bob", 0);
    expect(brief(await outbox.readNew("c1", 10))).toEqual([
      { type: "room.occupied", data: { roomId: "team:a", userId: "ann" } },
      { type: "room.vacated", data: { roomId: "team:a", userId: "bob" } },
    ]);
  });

  it("gets one chat.message.created per stored message, none for a repeated clientMsgId", async () => {
    const { outbox, messages } = backend();
    const input = { roomId: "team:m", senderId: "ann", text: "hi", createdAt: T0, clientMsgId: "c-1" };
    const first = await messages.append(input);
    await messages.append(input);
    await messages.append({ ...input, text: "again", clientMsgId: "c-2", mentions: ["bob"] });
    const entries = await outbox.readNew("c1", 10);
    expect(entries.map((e) => renderData(e.type, e.data))).toEqual([
      {
        roomId: "team:m",
        messageId: first.message.id,
        seq: 1,
        epoch: first.message.epoch,
        userId: "ann",
        text: "hi",
        clientMsgId: "c-1",
        createdAt: T0,
      },
      expect.objectContaining({ seq: 2, text: "again", mentions: ["bob"] }),
    ]);
  });

  it("gets notification.undelivered for a recipient without a connection only", async () => {
    const { outbox, presence, notifications } = backend(["notification.undelivered"]);
    await presence.connect(conn("on", "s1"), T0);
    const [, off] = await notifications.add(["on", "off"], { type: "t", title: "Hello" }, T0 + 1);
    expect(brief(await outbox.readNew("c1", 10))).toEqual([
      {
        type: "notification.undelivered",
        data: { userId: "off", notification: { id: off?.id, type: "t", title: "Hello", createdAt: T0 + 1 } },
      },
    ]);
  });

  it("hands each entry to one consumer, and a silent consumer's entries to another once idle", async () => {
    const { outbox, presence } = backend();
    for (const user of ["u1", "u2", "u3"]) await presence.connect(conn(user, `s-${user}`), T0);
    const first = await outbox.readNew("c1", 2);
    const second = await outbox.readNew("c2", 10);
    expect(first.map((e) => e.id)).not.toContain(second[0]?.id);
    expect([...first, ...second]).toHaveLength(3);
    expect(await outbox.readNew("c3", 10)).toEqual([]);

    await sleep(150);
    await outbox.keep("c1", [first[0]?.id as string]);
    const claimed = await outbox.claimStale("c3", 100, 10);
    expect(claimed.map((e) => e.id).sort()).toEqual([first[1]?.id, second[0]?.id].sort());
    expect(claimed[0]?.webhookId).toMatch(/^evt_\d+-\d+$/);
    expect(await outbox.claimStale("c4", 100, 10)).toEqual([]);
  });

  it("finds a stale entry behind many that are worked on, over successive claims", async () => {
    const { outbox, presence } = backend(["user.online"]);
    for (let i = 0; i < 40; i++) await presence.connect(conn(`u${i}`, `s${i}`), T0);
    const live = await outbox.readNew("busy", 39);
    const [stale] = (await outbox.readNew("dead", 1)) as [OutboxEntry];
    await sleep(150);
    await outbox.keep(
      "busy",
      live.map((e) => e.id),
    );
    let found: OutboxEntry[] = [];
    for (let i = 0; i < 6 && found.length === 0; i++) found = await outbox.claimStale("c3", 100, 1);
    expect(found.map((e) => e.id)).toEqual([stale.id]);
  });

  it("lets another consumer claim released entries at once", async () => {
    const { outbox, presence } = backend();
    await presence.connect(conn("rae", "s1"), T0);
    const [entry] = (await outbox.readNew("c1", 10)) as [OutboxEntry];
    expect(await outbox.claimStale("c2", 60_000, 10)).toEqual([]);
    await outbox.release("c1", [entry.id]);
    expect((await outbox.claimStale("c2", 60_000, 10)).map((e) => e.id)).toEqual([entry.id]);
  });

  it("removes what is acknowledged, and trimming never drops an undelivered entry", async () => {
    const { outbox, presence } = backend();
    for (const user of ["u1", "u2", "u3"]) await presence.connect(conn(user, `s-${user}`), T0);
    const taken = await outbox.readNew("c1", 2);
    expect((await outbox.lag(Date.now())).undelivered).toBe(3);
    await outbox.ack([taken[0]?.id as string]);
    await outbox.trim();
    expect((await outbox.lag(Date.now())).undelivered).toBe(2);
    await sleep(150);
    expect((await outbox.claimStale("c2", 100, 10)).map((e) => e.id)).toEqual([taken[1]?.id]);
    expect(await outbox.readNew("c2", 10)).toHaveLength(1);
  });

  it("moves an entry to the dead letters and back with the same webhook id", async () => {
    const { outbox, presence } = backend();
    await presence.connect(conn("dee", "s1"), T0);
    const [entry] = (await outbox.readNew("c1", 10)) as [OutboxEntry];
    await outbox.deadLetter(entry, 7, "HTTP 500", T0 + 1);
    expect((await outbox.lag(Date.now())).undelivered).toBe(0);
    const [letter] = await outbox.listDead(10);
    expect(letter).toMatchObject({
      webhookId: entry.webhookId,
      type: "user.online",
      attempts: 7,
      lastError: "HTTP 500",
      createdAt: entry.createdAt,
    });
    expect(await outbox.listDead(10, letter?.id)).toEqual([]);

    expect(await outbox.redeliver(letter?.id as string)).toBe(true);
    expect(await outbox.redeliver(letter?.id as string)).toBe(false);
    expect(await outbox.listDead(10)).toEqual([]);
    const [again] = (await outbox.readNew("c2", 10)) as [OutboxEntry];
    expect(again).toMatchObject({ webhookId: entry.webhookId, type: entry.type, data: entry.data });
    expect(again.createdAt).toBe(entry.createdAt);
  });
});

describe("redis webhook outbox after Redis lost its data", () => {
  it("makes its consumer group again and delivers what is written from then on", async () => {
    const redis = redisServer.client();
    const { outbox, presence } = redisSetup(redis, ALL);
    await presence.connect(conn("ada", "s1"), T0);
    expect(await outbox.readNew("c1", 10)).toHaveLength(1);
    await redis.flushall();
    await presence.connect(conn("bea", "s1"), T0);
    expect(brief(await outbox.readNew("c1", 10))).toEqual([
      { type: "user.online", data: { userId: "bea", at: T0 } },
    ]);
  });
});
