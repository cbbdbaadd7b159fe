import { describe, expect, it } from "vitest";
import type { ErrorBody } from "../../src/protocol/index.js";
import { eventually, ok, record, request, sleep } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { type ChatTestApp, startChatApp, uniquePrefix, user } from "./support.js";

/** Every refusal a client can meet in chat, each with its typed error code and no side effect. */

const fixture = usePrivateRedis<ChatTestApp>();

async function instance(
  env: Record<string, string> = {},
  prefix = uniquePrefix("refuse"),
): Promise<ChatTestApp> {
  const app = await startChatApp({ REDIS_URL: fixture.redis.url, REDIS_KEY_PREFIX: prefix, ...env });
  fixture.apps.push(app);
  return app;
}

function expectError(res: { ok: boolean; error?: ErrorBody }, code: ErrorBody["code"]): ErrorBody {
  expect(res.ok).toBe(false);
  const error = res.error as ErrorBody;
  expect(error.code).toBe(code);
  expect(JSON.stringify(error)).not.toMatch(/at .*\.(ts|js):\d+/);
  return error;
}

describe("chat validation", () => {
  it("refuses room ids that are not kind:id with INVALID_PAYLOAD", async () => {
    const app = await instance();
    const alice = await user(app, "alice", { roles: ["admin"] });
    const bad = [
      "nokind",
      "Team:x",
      "team:",
      ":x",
      "team:a b",
      "team:a/b",
      `${"k".repeat(33)}:x`,
      `t:${"x".repeat(129)}`,
    ];
    for (const roomId of bad) {
      const error = expectError(await request(alice, "chat:join", { roomId }), "INVALID_PAYLOAD");
      expect(error.fields?.[0]?.path).toBe("roomId");
      expectError(await request(alice, "chat:send", { roomId, text: "x" }), "INVALID_PAYLOAD");
      expectError(await request(alice, "chat:history", { roomId }), "INVALID_PAYLOAD");
    }
    expectError(await request(alice, "chat:join", { roomId: 42 } as never), "INVALID_PAYLOAD");
    expectError(await request(alice, "chat:join", undefined as never), "INVALID_PAYLOAD");
  });

  it("refuses empty, blank and too long text with INVALID_PAYLOAD and stores nothing", async () => {
    const app = await instance({ CHAT_MAX_MESSAGE_LENGTH: "10" });
    const alice = await user(app, "alice");
    await ok(alice, "chat:join", { roomId: "team:core" });
    const seen = record(alice, "chat:message");
    for (const text of ["", "   \n\t ", "x".repeat(11), "😀".repeat(11)]) {
      const error = expectError(
        await request(alice, "chat:send", { roomId: "team:core", text }),
        "INVALID_PAYLOAD",
      );
      expect(error.fields?.[0]?.path).toBe("text");
    }
    expectError(await request(alice, "chat:send", { roomId: "team:core" } as never), "INVALID_PAYLOAD");
    expectError(
      await request(alice, "chat:send", { roomId: "team:core", text: "ok", clientMsgId: "has space" }),
      "INVALID_PAYLOAD",
    );
    const atLimit = await ok(alice, "chat:send", { roomId: "team:core", text: ` ${"😀".repeat(10)} ` });
    expect(atLimit.text).toBe("😀".repeat(10));
    await sleep(100);
    expect(seen.map((m) => m.id)).toEqual([atLimit.id]);
  });

  it("refuses malformed cursors and limits with INVALID_PAYLOAD", async () => {
    const app = await instance();
    const alice = await user(app, "alice");
    await ok(alice, "chat:join", { roomId: "team:core" });
    expectError(await request(alice, "chat:join", { roomId: "team:core", since: "abc" }), "INVALID_PAYLOAD");
    expectError(
      await request(alice, "chat:join", { roomId: "team:core", since: "99999999999999999999-0" }),
      "INVALID_PAYLOAD",
    );
    expectError(await request(alice, "chat:history", { roomId: "team:core", limit: 101 }), "INVALID_PAYLOAD");
    expectError(await request(alice, "chat:history", { roomId: "team:core", limit: 0 }), "INVALID_PAYLOAD");
    expectError(
      await request(alice, "chat:history", { roomId: "team:core", before: "1" }),
      "INVALID_PAYLOAD",
    );
    expectError(
      await request(alice, "chat:read", { roomId: "team:core", messageId: "x-1" }),
      "INVALID_PAYLOAD",
    );
    expectError(
      await request(alice, "chat:typing", { roomId: "team:core", typing: "yes" } as never),
      "INVALID_PAYLOAD",
    );
  });

  it("answers NOT_FOUND when marking a position in a room without messages", async () => {
    const app = await instance();
    const alice = await user(app, "alice");
    expectError(await request(alice, "chat:read", { roomId: "team:core", messageId: "1-0" }), "NOT_FOUND");
  });
});

describe("chat authorization", () => {
  it("refuses rooms the token does not grant with FORBIDDEN, for every event", async () => {
    const app = await instance();
    const bob = await user(app, "bob", { rooms: ["team:core"] });
    expectError(await request(bob, "chat:join", { roomId: "team:secret" }), "FORBIDDEN");
    expectError(await request(bob, "chat:history", { roomId: "team:secret" }), "FORBIDDEN");
    expectError(await request(bob, "chat:send", { roomId: "team:secret", text: "x" }), "FORBIDDEN");
    expectError(await request(bob, "chat:typing", { roomId: "team:secret", typing: true }), "FORBIDDEN");
    expectError(await request(bob, "chat:read", { roomId: "team:secret", messageId: "1-0" }), "FORBIDDEN");
    expect((await ok(bob, "chat:join", { roomId: "team:core" })).roomId).toBe("team:core");
  });

  it("lets through exact claims, claims ending in *, and admins", async () => {
    const app = await instance();
    const exact = await user(app, "u1", { rooms: ["support:42"] });
    const pattern = await user(app, "u2", { rooms: ["support:*"] });
    const admin = await user(app, "u3", { roles: ["admin"] });
    for (const s of [exact, pattern, admin]) await ok(s, "chat:join", { roomId: "support:42" });
    expectError(await request(exact, "chat:join", { roomId: "support:43" }), "FORBIDDEN");
    await ok(pattern, "chat:join", { roomId: "support:43" });
  });

  it("opens a dm to its two participants only, not to admins or outsiders", async () => {
    const app = await instance();
    const alice = await user(app, "alice", { rooms: [] });
    const bob = await user(app, "bob", { rooms: [] });
    const admin = await user(app, "root", { roles: ["admin"], rooms: ["*"] });
    const carol = await user(app, "carol", { rooms: ["dm:*"] });
    await ok(alice, "chat:join", { roomId: "dm:alice:bob" });
    await ok(bob, "chat:join", { roomId: "dm:alice:bob" });
    const sent = await ok(alice, "chat:send", { roomId: "dm:alice:bob", text: "just us" });
    expect(sent.roomId).toBe("dm:alice:bob");
    expectError(await request(admin, "chat:join", { roomId: "dm:alice:bob" }), "FORBIDDEN");
    expectError(await request(admin, "chat:history", { roomId: "dm:alice:bob" }), "FORBIDDEN");
    expectError(await request(carol, "chat:join", { roomId: "dm:alice:bob" }), "FORBIDDEN");
    expectError(await request(bob, "chat:join", { roomId: "dm:bob:alice" }), "FORBIDDEN");
  });

  it("never lets anyone join, send to or leave the server-managed user: and presence: rooms", async () => {
    const app = await instance();
    const admin = await user(app, "root", { roles: ["admin"], rooms: ["*"] });
    for (const roomId of ["user:root", "user:alice", "presence:alice"]) {
      expectError(await request(admin, "chat:join", { roomId }), "FORBIDDEN");
      expectError(await request(admin, "chat:send", { roomId, text: "x" }), "FORBIDDEN");
      expectError(await request(admin, "chat:history", { roomId }), "FORBIDDEN");
    }
    // chat:leave of its own user room is a no-op: the socket keeps receiving what the server sends there.
    expect(await ok(admin, "chat:leave", { roomId: "user:root" })).toEqual({ roomId: "user:root" });
    const inUserRoom = await app.app.io.in("user:root").fetchSockets();
    expect(inUserRoom.map((s) => s.id)).toEqual([admin.id]);
  });

  it("refuses sending and typing in a room the socket has not joined with NOT_IN_ROOM", async () => {
    const app = await instance();
    const aliceJoined = await user(app, "alice");
    const aliceOther = await user(app, "alice");
    await ok(aliceJoined, "chat:join", { roomId: "team:core" });
    const seen = record(aliceJoined, "chat:message");
    expectError(await request(aliceOther, "chat:send", { roomId: "team:core", text: "x" }), "NOT_IN_ROOM");
    expectError(
      await request(aliceOther, "chat:typing", { roomId: "team:core", typing: true }),
      "NOT_IN_ROOM",
    );
    await ok(aliceJoined, "chat:leave", { roomId: "team:core" });
    expectError(await request(aliceJoined, "chat:send", { roomId: "team:core", text: "x" }), "NOT_IN_ROOM");
    await sleep(100);
    expect(seen).toEqual([]);
  });

  it("answers server:error, not a crash, for chat events sent without an ack", async () => {
    const app = await instance();
    const alice = await user(app, "alice");
    const errors = record(alice, "server:error");
    alice.emit("chat:send", { roomId: "team:core", text: "no ack" });
    alice.emit("chat:join", { roomId: "user:alice" });
    await eventually(() => errors.length === 2);
    expect(errors.map((e) => `${e.event} ${e.code}`).sort()).toEqual([
      "chat:join FORBIDDEN",
      "chat:send NOT_IN_ROOM",
    ]);
    expect((await ok(alice, "chat:join", { roomId: "team:core" })).roomId).toBe("team:core");
  });
});

describe("chat rate limits", () => {
  it("limits sends per user across devices and instances with a burst, with retryAfterMs, sparing other users", async () => {
    const prefix = uniquePrefix("rl");
    const env = { RATE_CHAT_SEND_PER_SEC: "2", RATE_CHAT_SEND_BURST: "5" };
    const a = await instance(env, prefix);
    const b = await instance(env, prefix);
    const aliceOnA = await user(a, "alice");
    const aliceOnB = await user(b, "alice");
    const bob = await user(a, "bob");
    for (const s of [aliceOnA, aliceOnB, bob]) await ok(s, "chat:join", { roomId: "team:core" });
    const bobSees = record(bob, "chat:message");

    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const socket = i % 2 === 0 ? aliceOnA : aliceOnB;
      const res = await request(socket, "chat:send", { roomId: "team:core", text: `s${i}` });
      outcomes.push(res.ok ? "ok" : res.error.code);
      if (!res.ok) expect(res.error.retryAfterMs).toBeGreaterThan(0);
    }
    // 2 per second sustained plus a burst of 3 more: the sixth within the same second is refused.
    expect(outcomes).toEqual(["ok", "ok", "ok", "ok", "ok", "RATE_LIMITED"]);
    expect((await ok(bob, "chat:send", { roomId: "team:core", text: "bob is fine" })).senderId).toBe("bob");
    await sleep(100);
    expect(bobSees.map((m) => m.text)).toEqual(["s0", "s1", "s2", "s3", "s4", "bob is fine"]);
  });

  it("limits typing and joins per user with RATE_LIMITED", async () => {
    const app = await instance({ RATE_CHAT_TYPING_PER_SEC: "2", RATE_CHAT_JOIN_PER_SEC: "3" });
    const alice = await user(app, "alice");
    const codes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await request(alice, "chat:join", { roomId: `team:r${i}` });
      codes.push(res.ok ? "ok" : res.error.code);
    }
    expect(codes).toEqual(["ok", "ok", "ok", "RATE_LIMITED"]);
    const typing: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await request(alice, "chat:typing", { roomId: "team:r0", typing: true });
      typing.push(res.ok ? "ok" : res.error.code);
    }
    expect(typing).toEqual(["ok", "ok", "RATE_LIMITED"]);
    const bob = await user(app, "bob");
    expect((await ok(bob, "chat:join", { roomId: "team:r0" })).roomId).toBe("team:r0");
  });
});
