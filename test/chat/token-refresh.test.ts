import { describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { connected, nextEvent, ok, record, request, type TestSocket } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { tokenFor } from "../helpers/tokens.js";
import { uniquePrefix } from "./support.js";

/**
 * `auth:refresh` may narrow what a socket is granted (a new `rooms` claim, roles without
 * `admin`): the socket leaves every chat room it lost, as a `chat:leave` would, and no live
 * event of those rooms reaches it afterwards.
 */

const ctx = usePrivateRedis<TestApp>();

/** Two instances on the file's Redis, as production runs them. */
async function twoInstances(): Promise<[TestApp, TestApp]> {
  const env = { REDIS_URL: ctx.redis.url, REDIS_KEY_PREFIX: uniquePrefix("refresh") };
  const pair = await Promise.all([startApp(env), startApp(env)]);
  ctx.apps.push(...pair);
  return pair;
}

const as = async (app: TestApp, userId: string, claims: { rooms?: string[]; roles?: string[] }) =>
  connected(app.url, await tokenFor(userId, claims));

/**
 * Bob sends a message, typing and a read position in `dropped`, then a message in `kept`:
 * once that last message arrived, anything of `dropped` would have arrived before it. Only
 * what this call sent is counted (an earlier call's marker may still be on its way).
 */
async function roomTrafficReaches(
  bob: TestSocket,
  target: TestSocket,
  dropped: string,
  kept: string,
): Promise<{ messages: string[]; typing: string[]; reads: string[] }> {
  const messages = record(target, "chat:message");
  const typing = record(target, "chat:typing");
  const reads = record(target, "chat:read");
  const sent = await ok(bob, "chat:send", { roomId: dropped, text: "after the refresh" });
  await ok(bob, "chat:typing", { roomId: dropped, typing: true });
  await ok(bob, "chat:read", { roomId: dropped, messageId: sent.id });
  const marker = nextEvent(target, "chat:message", 5000, (m) => m.roomId === kept && m.text === "marker");
  const sentMarker = await ok(bob, "chat:send", { roomId: kept, text: "marker" });
  await marker;
  const ours = new Set([sent.id, sentMarker.id]);
  return {
    messages: messages.filter((m) => ours.has(m.id)).map((m) => m.roomId),
    typing: typing.map((t) => t.roomId),
    reads: reads.map((r) => r.roomId),
  };
}

describe("auth:refresh that narrows access", () => {
  it("leaves the rooms the new token no longer grants, tells the client which, and stops their live events", async () => {
    const [a, b] = await twoInstances();
    const alice = await as(a, "alice", { rooms: ["team:a", "team:b"] });
    const bob = await as(b, "bob", { rooms: ["team:*"] });
    for (const roomId of ["team:a", "team:b"]) {
      await ok(alice, "chat:join", { roomId });
      await ok(bob, "chat:join", { roomId });
    }
    const before = await roomTrafficReaches(bob, alice, "team:a", "team:b");
    expect(before).toEqual({ messages: ["team:a", "team:b"], typing: ["team:a"], reads: ["team:a"] });

    const leave = nextEvent(bob, "chat:member", 5000, (m) => m.userId === "alice");
    const refreshed = await ok(alice, "auth:refresh", {
      token: await tokenFor("alice", { rooms: ["team:b"] }),
    });
    expect(refreshed.leftRooms).toEqual(["team:a"]);
    expect(await leave).toEqual({ roomId: "team:a", userId: "alice", event: "leave" });

    const after = await roomTrafficReaches(bob, alice, "team:a", "team:b");
    expect(after).toEqual({ messages: ["team:b"], typing: [], reads: [] });
    expect((await ok(bob, "chat:join", { roomId: "team:a" })).online).toEqual(["bob"]);
  });

  it("announces the leave only when it was the user's last socket in the room", async () => {
    const [a, b] = await twoInstances();
    const phone = await as(a, "carol", { rooms: ["team:*"] });
    const laptop = await as(b, "carol", { rooms: ["team:*"] });
    const bob = await as(a, "bob", { rooms: ["team:*"] });
    for (const s of [phone, laptop, bob]) {
      await ok(s, "chat:join", { roomId: "team:a" });
      await ok(s, "chat:join", { roomId: "team:b" });
    }
    const members = record(bob, "chat:member");

    const narrowed = await tokenFor("carol", { rooms: ["team:b"] });
    expect((await ok(phone, "auth:refresh", { token: narrowed })).leftRooms).toEqual(["team:a"]);
    // The laptop still holds the room: nothing announced, and it still gets the room's events.
    expect(await roomTrafficReaches(bob, laptop, "team:a", "team:b")).toEqual({
      messages: ["team:a", "team:b"],
      typing: ["team:a"],
      reads: ["team:a"],
    });
    expect(await roomTrafficReaches(bob, phone, "team:a", "team:b")).toEqual({
      messages: ["team:b"],
      typing: [],
      reads: [],
    });
    // Bob's own join may still be on its way: only carol's changes matter here.
    expect(members.filter((m) => m.userId === "carol")).toEqual([]);

    const leave = nextEvent(bob, "chat:member", 5000, (m) => m.userId === "carol");
    expect((await ok(laptop, "auth:refresh", { token: narrowed })).leftRooms).toEqual(["team:a"]);
    expect(await leave).toEqual({ roomId: "team:a", userId: "carol", event: "leave" });
  });

  it("leaves rooms opened only by the admin role once a refresh drops it, and keeps dm rooms", async () => {
    const [a] = await twoInstances();
    const admin = await as(a, "dana", { roles: ["admin"] });
    await ok(admin, "chat:join", { roomId: "ops:incident" });
    await ok(admin, "chat:join", { roomId: "dm:bob:dana" });
    const res = await request(admin, "auth:refresh", { token: await tokenFor("dana", { roles: [] }) });
    expect(res).toMatchObject({ ok: true, data: { leftRooms: ["ops:incident"] } });
    expect(await request(admin, "chat:send", { roomId: "ops:incident", text: "still here?" })).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN" },
    });
    expect((await ok(admin, "chat:send", { roomId: "dm:bob:dana", text: "still here" })).roomId).toBe(
      "dm:bob:dana",
    );
  });

  it("refuses a join that was in flight while a refresh narrowed access, and leaves the room", async () => {
    const [a] = await twoInstances();
    const fay = await as(a, "fay", { rooms: ["team:*"] });
    const bob = await as(a, "bob", { rooms: ["team:*"] });
    for (const s of [fay, bob]) await ok(s, "chat:join", { roomId: "team:b" });
    await ok(bob, "chat:join", { roomId: "team:a" });
    const members = record(bob, "chat:member");
    // Writes wait in Redis: the join's rate limit holds it there while the refresh, which
    // writes nothing, completes.
    const admin = ctx.redis.client();
    try {
      await admin.call("CLIENT", "PAUSE", "700", "WRITE");
      const join = request(fay, "chat:join", { roomId: "team:a" });
      const narrowed = await tokenFor("fay", { rooms: ["team:b"] });
      expect((await ok(fay, "auth:refresh", { token: narrowed })).leftRooms).toEqual([]);
      expect(await join).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    } finally {
      admin.disconnect();
    }
    expect(await roomTrafficReaches(bob, fay, "team:a", "team:b")).toEqual({
      messages: ["team:b"],
      typing: [],
      reads: [],
    });
    expect(members.filter((m) => m.userId === "fay").map((m) => [m.roomId, m.userId, m.event])).toEqual([
      ["team:a", "fay", "join"],
      ["team:a", "fay", "leave"],
    ]);
  });

  it("leaves nothing when the new token grants every joined room", async () => {
    const [a] = await twoInstances();
    const erin = await as(a, "erin", { rooms: ["team:a"] });
    await ok(erin, "chat:join", { roomId: "team:a" });
    const res = await ok(erin, "auth:refresh", { token: await tokenFor("erin", { rooms: ["team:*"] }) });
    expect(res.leftRooms).toEqual([]);
    expect((await ok(erin, "chat:send", { roomId: "team:a", text: "hi" })).roomId).toBe("team:a");
  });
});
