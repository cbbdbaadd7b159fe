import { describe, expect, it } from "vitest";
import type { Notification } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { connected, eventually, nextEvent, ok, request, sleep } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { tokenFor } from "../helpers/tokens.js";
import { API_KEY, connectRecording, publish, uniquePrefix } from "./support.js";

const fixture = usePrivateRedis<TestApp>();

/** Two instances sharing the private Redis under a prefix of their own. */
async function twoInstances(env: Record<string, string> = {}): Promise<[TestApp, TestApp]> {
  const shared = {
    REDIS_URL: fixture.redis.url,
    REDIS_KEY_PREFIX: uniquePrefix(),
    INTERNAL_API_KEY: API_KEY,
    ...env,
  };
  const a = await startApp(shared);
  fixture.apps.push(a);
  const b = await startApp(shared);
  fixture.apps.push(b);
  return [a, b];
}

const as = async (url: string, user: string) => connected(url, await tokenFor(user));

describe("notifications across instances", () => {
  it("delivers a notification published on A to every device of the user on A and B exactly once", async () => {
    const [a, b] = await twoInstances();
    const onA = await connectRecording(a.url, await tokenFor("alice"), ["notification:new"]);
    const onB = await connectRecording(b.url, await tokenFor("alice"), ["notification:new"]);
    const bob = await connectRecording(a.url, await tokenFor("bob"), ["notification:new"]);

    const res = await publish(a.url, {
      userIds: ["alice"],
      type: "comment.reply",
      title: "New reply",
      body: "Bob replied",
      data: { postId: 42, tags: [] },
    });
    expect(res.status).toBe(202);
    expect(res.body.notifications).toEqual([{ userId: "alice", id: expect.any(String) }]);
    const id = res.body.notifications[0].id;

    await eventually(
      () => onA.seen["notification:new"].length > 0 && onB.seen["notification:new"].length > 0,
    );
    // A later notification to bob on the same channel marks the point by which a duplicate would have come.
    await publish(a.url, { userIds: ["bob"], type: "t", title: "barrier" });
    await eventually(() => bob.seen["notification:new"].length === 1);
    await sleep(50);

    const expected: Notification = {
      id,
      type: "comment.reply",
      title: "New reply",
      body: "Bob replied",
      data: { postId: 42, tags: [] },
      createdAt: expect.any(Number),
      readAt: null,
    };
    expect(onA.seen["notification:new"]).toEqual([expected]);
    expect(onB.seen["notification:new"]).toEqual([expected]);
    expect(bob.seen["notification:new"].map((n) => n.title)).toEqual(["barrier"]);
  });

  it("lets an offline user list a notification after connecting, with the right unread count", async () => {
    const [a, b] = await twoInstances();
    const first = await publish(a.url, { userIds: ["carol"], type: "t", title: "first" });
    const second = await publish(a.url, { userIds: ["carol", "dave"], type: "t", title: "second" });
    expect(second.status).toBe(202);

    const carol = await connectRecording(b.url, await tokenFor("carol"), ["notification:unread"]);
    await eventually(() => carol.seen["notification:unread"].length === 1);
    expect(carol.seen["notification:unread"]).toEqual([{ count: 2 }]);

    const listed = await ok(carol.socket, "notification:list", {});
    expect(listed.unreadCount).toBe(2);
    expect(listed.hasMore).toBe(false);
    expect(listed.items.map((n) => [n.id, n.title, n.readAt])).toEqual([
      [second.body.notifications[0].id, "second", null],
      [first.body.notifications[0].id, "first", null],
    ]);
  });

  it("updates the unread count on the user's other devices when one device reads", async () => {
    const [a, b] = await twoInstances();
    const phone = await as(a.url, "erin");
    const laptop = await connectRecording(b.url, await tokenFor("erin"), ["notification:unread"]);
    const tablet = await connectRecording(a.url, await tokenFor("erin"), ["notification:unread"]);
    const stranger = await connectRecording(b.url, await tokenFor("frank"), ["notification:unread"]);
    await eventually(() => laptop.seen["notification:unread"].length === 1);

    const newNotes = [
      nextEvent(phone, "notification:new"),
      nextEvent(phone, "notification:new", 5000, (n) => n.title === "two"),
    ];
    const one = await publish(a.url, { userIds: ["erin"], type: "t", title: "one" });
    await publish(a.url, { userIds: ["erin"], type: "t", title: "two" });
    await Promise.all(newNotes);

    const onLaptop = nextEvent(laptop.socket, "notification:unread", 5000, (p) => p.count === 1);
    const onTablet = nextEvent(tablet.socket, "notification:unread", 5000, (p) => p.count === 1);
    expect(await ok(phone, "notification:read", { ids: [one.body.notifications[0].id] })).toEqual({
      unreadCount: 1,
    });
    expect(await onLaptop).toEqual({ count: 1 });
    expect(await onTablet).toEqual({ count: 1 });

    const zeroOnLaptop = nextEvent(laptop.socket, "notification:unread", 5000, (p) => p.count === 0);
    expect(await ok(phone, "notification:read", { all: true })).toEqual({ unreadCount: 0 });
    await zeroOnLaptop;

    const listed = await ok(laptop.socket, "notification:list", {});
    expect(listed.unreadCount).toBe(0);
    expect(listed.items.every((n) => typeof n.readAt === "number")).toBe(true);
    // Another user's devices hear nothing of it beyond their own count on connect.
    expect(stranger.seen["notification:unread"]).toEqual([{ count: 0 }]);
  });

  it("answers a repeated idempotencyKey with the original ids, stores nothing new and sends the same notification again", async () => {
    const [a, b] = await twoInstances();
    const grace = await connectRecording(b.url, await tokenFor("grace"), ["notification:new"]);
    const body = {
      userIds: ["grace", "heidi"],
      type: "t",
      title: "once",
      idempotencyKey: "order-17-shipped",
    };
    const first = await publish(a.url, body);
    expect(first.status).toBe(202);
    expect(first.headers.get("idempotent-replayed")).toBeNull();

    const again = await publish(b.url, { ...body, title: "changed" });
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(first.body);

    // At least once: the first request may have stored it and died before sending it.
    await eventually(() => grace.seen["notification:new"].length === 2);
    await sleep(100);
    const sent = grace.seen["notification:new"];
    expect(sent.map((n) => [n.id, n.title])).toEqual([
      [first.body.notifications[0].id, "once"],
      [first.body.notifications[0].id, "once"],
    ]);
    const listed = await ok(grace.socket, "notification:list", {});
    expect(listed.items.map((n) => n.title)).toEqual(["once"]);
    expect(listed.unreadCount).toBe(1);
  });

  it("creates one set of notifications when the same idempotencyKey reaches two instances at once", async () => {
    const [a, b] = await twoInstances();
    const body = { userIds: ["ivan"], type: "t", title: "race", idempotencyKey: "race-1" };
    const [onA, onB] = await Promise.all([publish(a.url, body), publish(b.url, body)]);
    expect([onA.status, onB.status]).toEqual([202, 202]);
    expect(onA.body).toEqual(onB.body);
    const ivan = await as(a.url, "ivan");
    const listed = await ok(ivan, "notification:list", {});
    expect(listed.items.map((n) => n.id)).toEqual([onA.body.notifications[0].id]);
  });

  it("keeps only the newest NOTIFICATION_LIMIT per user, newest first, with an exact unread count", async () => {
    const [a] = await twoInstances({ NOTIFICATION_LIMIT: "3" });
    for (let i = 1; i <= 5; i++) {
      expect((await publish(a.url, { userIds: ["judy"], type: "t", title: `n${i}` })).status).toBe(202);
    }
    const judy = await connectRecording(a.url, await tokenFor("judy"), ["notification:unread"]);
    await eventually(() => judy.seen["notification:unread"].length === 1);
    expect(judy.seen["notification:unread"]).toEqual([{ count: 3 }]);

    const page1 = await ok(judy.socket, "notification:list", { limit: 2 });
    expect(page1.items.map((n) => n.title)).toEqual(["n5", "n4"]);
    expect(page1).toMatchObject({ unreadCount: 3, hasMore: true });
    const page2 = await ok(judy.socket, "notification:list", { limit: 2, before: page1.items[1]?.id });
    expect(page2.items.map((n) => n.title)).toEqual(["n3"]);
    expect(page2.hasMore).toBe(false);
  });

  it("shows a user only their own notifications", async () => {
    const [a, b] = await twoInstances();
    const mine = await publish(a.url, { userIds: ["kim"], type: "t", title: "for kim" });
    const leo = await as(b.url, "leo");
    expect(await ok(leo, "notification:list", {})).toEqual({ items: [], unreadCount: 0, hasMore: false });
    expect(await ok(leo, "notification:read", { ids: [mine.body.notifications[0].id] })).toEqual({
      unreadCount: 0,
    });
    const kim = await as(a.url, "kim");
    const listed = await ok(kim, "notification:list", {});
    expect(listed.unreadCount).toBe(1);
    expect(listed.items[0]?.readAt).toBeNull();
  });

  it("rejects bad list and read payloads with INVALID_PAYLOAD", async () => {
    const [a] = await twoInstances();
    const mia = await as(a.url, "mia");
    const cases = [
      ["notification:list", { limit: 101 }, "limit"],
      ["notification:list", { limit: 0 }, "limit"],
      ["notification:list", { before: "not-an-id" }, "before"],
      ["notification:list", { unreadOnly: "yes" }, "unreadOnly"],
      ["notification:read", {}, undefined],
      ["notification:read", { ids: [] }, undefined],
      ["notification:read", { all: false }, undefined],
    ] as const;
    for (const [event, payload, field] of cases) {
      // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed payloads
      const res = await request(mia, event, payload as any);
      expect(res.ok, JSON.stringify(payload)).toBe(false);
      if (res.ok) continue;
      expect(res.error.code).toBe("INVALID_PAYLOAD");
      if (field) expect(res.error.fields?.map((f) => f.path)).toContain(field);
    }
    // The connection survives all of it.
    expect((await ok(mia, "notification:list", {})).items).toEqual([]);
  });

  it("keeps the connection when the unread count cannot be read on connect, and logs why", async () => {
    const prefix = uniquePrefix();
    const app = await startApp({ REDIS_URL: fixture.redis.url, REDIS_KEY_PREFIX: prefix });
    fixture.apps.push(app);
    // A key of the wrong type makes the count fail on this user's keys only, with Redis up.
    const client = fixture.redis.client();
    try {
      await client.set(`${prefix}notif:{nina}:unread`, "not a sorted set");
    } finally {
      client.disconnect();
    }
    const nina = await connectRecording(app.url, await tokenFor("nina"), ["notification:unread"]);
    await eventually(
      () => app.logs.find((l) => l.msg === "unread count failed" && l.userId === "nina") !== undefined,
    );
    expect(nina.socket.connected).toBe(true);
    expect(nina.seen["notification:unread"]).toEqual([]);
    // The socket still works, and the failure reaches the client as a code, not a stack.
    const res = await request(nina.socket, "notification:list", {});
    expect(res.ok ? "ok" : res.error).toEqual({ code: "INTERNAL", message: "internal error" });
    expect(await ok(nina.socket, "auth:refresh", { token: await tokenFor("nina") })).toHaveProperty("exp");
  });
});

describe("notifications without Redis", () => {
  it("delivers, lists and reads on a single in-memory instance", async () => {
    const app = await startApp({ INTERNAL_API_KEY: API_KEY });
    fixture.apps.push(app);
    const olga = await connectRecording(app.url, await tokenFor("olga"), [
      "notification:new",
      "notification:unread",
    ]);
    const res = await publish(app.url, { userIds: ["olga"], type: "t", title: "memory" });
    expect(res.status).toBe(202);
    await eventually(() => olga.seen["notification:new"].length === 1);
    expect(olga.seen["notification:new"][0]?.id).toBe(res.body.notifications[0].id);
    expect(await ok(olga.socket, "notification:read", { all: true })).toEqual({ unreadCount: 0 });
    // The count on connect (before the publish), then the one after reading.
    await eventually(() => olga.seen["notification:unread"].length === 2);
    expect(olga.seen["notification:unread"]).toEqual([{ count: 0 }, { count: 0 }]);
    expect((await ok(olga.socket, "notification:list", {})).items[0]?.readAt).toEqual(expect.any(Number));
  });
});
