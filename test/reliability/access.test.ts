import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, ok, record, request, sleep } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * Access across every domain: whatever a payload claims, the acting user is the token's,
 * and another user's rooms stay closed on every path that reads them.
 */

const API_KEY = "access-test-internal-api-key-0123456789";

let redis: RedisServer;
let t: TestApp;

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  closeAllClients();
  await t?.close();
});
afterAll(async () => {
  await redis.destroy();
});

const start = async () => {
  t = await startApp({
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: `ac${randomBytes(4).toString("hex")}:`,
    INTERNAL_API_KEY: API_KEY,
  });
  return t;
};

const as = async (app: TestApp, userId: string, rooms: string[] = ["team:*"]) =>
  connected(app.url, await tokenFor(userId, { rooms }));

describe("spoofed identities in payloads", () => {
  it("acts as the token's user in chat, presence and notifications, whatever senderId or userId the payload names", async () => {
    const app = await start();
    const alice = await as(app, "alice");
    const mallory = await as(app, "mallory");
    const watcher = await as(app, "watcher");
    const aliceChanges = record(watcher, "presence:changed");
    await ok(watcher, "presence:subscribe", { userIds: ["alice"] });
    for (const s of [alice, mallory]) await ok(s, "chat:join", { roomId: "team:core" });

    const spoof = { senderId: "alice", senderName: "Alice", userId: "alice" };
    const sent = await ok(mallory, "chat:send", {
      roomId: "team:core",
      text: "from alice?",
      ...spoof,
    } as never);
    expect(sent.senderId).toBe("mallory");
    expect(sent.senderName).toBeUndefined();
    await ok(mallory, "chat:read", { roomId: "team:core", messageId: sent.id, userId: "alice" } as never);
    const aliceRoom = await ok(alice, "chat:join", { roomId: "team:core" });
    expect(aliceRoom.lastReadId).toBeNull();

    const state = await ok(mallory, "presence:set", {
      status: "busy",
      text: "spoof",
      userId: "alice",
    } as never);
    expect(state).toMatchObject({ userId: "mallory", status: "busy", text: "spoof" });
    const [aliceState] = await ok(watcher, "presence:query", { userIds: ["alice"] });
    expect(aliceState).toMatchObject({ userId: "alice", status: "online" });
    expect(aliceState?.text).toBeUndefined();

    const published = await fetch(`${app.url}/internal/notifications`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ userIds: ["alice"], type: "t", title: "for alice only" }),
    });
    expect(published.status).toBe(202);
    const listed = await ok(mallory, "notification:list", { userId: "alice" } as never);
    expect(listed).toEqual({ items: [], unreadCount: 0, hasMore: false });
    expect(await ok(mallory, "notification:read", { all: true, userId: "alice" } as never)).toEqual({
      unreadCount: 0,
    });
    const mine = await ok(alice, "notification:list", {});
    expect(mine.unreadCount).toBe(1);
    expect(mine.items.map((n) => [n.title, n.readAt])).toEqual([["for alice only", null]]);

    await sleep(100);
    expect(aliceChanges).toEqual([]);
  });
});

describe("another user's rooms", () => {
  it("keeps a dm's and an ungranted room's messages out of history, join with since, read and live delivery", async () => {
    const app = await start();
    const alice = await as(app, "alice", []);
    const bob = await as(app, "bob", []);
    const carol = await as(app, "carol", ["team:secret"]);
    // Even a wildcard claim on dm rooms and every team room but one opens none of them.
    const mallory = await as(app, "mallory", ["dm:*", "team:public"]);
    const malloryGets = record(mallory, "chat:message");
    const malloryNotified = record(mallory, "notification:new");
    await ok(alice, "chat:join", { roomId: "dm:alice:bob" });
    await ok(bob, "chat:join", { roomId: "dm:alice:bob" });
    await ok(carol, "chat:join", { roomId: "team:secret" });
    const dm = await ok(alice, "chat:send", { roomId: "dm:alice:bob", text: "dm secret" });
    const team = await ok(carol, "chat:send", { roomId: "team:secret", text: "team secret" });

    const answers = [];
    for (const [roomId, id] of [
      ["dm:alice:bob", dm.id],
      ["team:secret", team.id],
    ] as const) {
      answers.push(
        await request(mallory, "chat:history", { roomId }),
        await request(mallory, "chat:history", { roomId, after: "0-0" }),
        await request(mallory, "chat:history", { roomId, before: "99999999999999-0" }),
        await request(mallory, "chat:join", { roomId, since: "0-0" }),
        await request(mallory, "chat:join", { roomId, since: id }),
        await request(mallory, "chat:read", { roomId, messageId: id }),
        await request(mallory, "chat:typing", { roomId, typing: true }),
        await request(mallory, "chat:send", { roomId, text: "let me in" }),
      );
    }
    for (const roomId of ["user:alice", "presence:alice"]) {
      answers.push(await request(mallory, "chat:join", { roomId }));
    }
    expect(answers.map((a) => (a.ok ? "ok" : a.error.code))).toEqual(Array(answers.length).fill("FORBIDDEN"));
    expect(JSON.stringify(answers)).not.toMatch(/secret/);

    // Nothing sent there afterwards reaches mallory either, nor what the server sends to alice's own room.
    await ok(alice, "chat:send", { roomId: "dm:alice:bob", text: "dm secret 2" });
    await ok(carol, "chat:send", { roomId: "team:secret", text: "team secret 2" });
    const published = await fetch(`${app.url}/internal/notifications`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ userIds: ["alice"], type: "t", title: "alice's" }),
    });
    expect(published.status).toBe(202);
    await sleep(150);
    expect(malloryGets).toEqual([]);
    expect(malloryNotified).toEqual([]);
    // mallory's own dm with alice is open to mallory: the refusals above are about the room, not the user.
    expect((await ok(mallory, "chat:join", { roomId: "dm:alice:mallory" })).roomId).toBe("dm:alice:mallory");
  });
});
