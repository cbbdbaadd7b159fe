import { describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { connected, eventually, nextEvent, ok } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";
import { API_KEY, post, publish, uniquePrefix } from "./support.js";

const fixture = usePrivateRedis<TestApp>();

async function instance(env: Record<string, string | undefined> = {}): Promise<TestApp> {
  const app = await startApp({
    REDIS_URL: fixture.redis.url,
    REDIS_KEY_PREFIX: uniquePrefix(),
    INTERNAL_API_KEY: API_KEY,
    ...env,
  });
  fixture.apps.push(app);
  return app;
}

const valid = { userIds: ["u1"], type: "t", title: "hello" };

describe("internal API authentication", () => {
  it("answers 401 UNAUTHORIZED without the right bearer key", async () => {
    const app = await instance();
    const attempts = [
      null,
      "",
      `Basic ${Buffer.from(`x:${API_KEY}`).toString("base64")}`,
      "Bearer",
      "Bearer wrong",
      `Bearer ${API_KEY}x`,
      `Bearer ${API_KEY.slice(0, -1)}`,
      `${API_KEY}`,
    ];
    for (const authorization of attempts) {
      const res = await post(app.url, "/internal/notifications", valid, { authorization });
      expect(res.status, String(authorization)).toBe(401);
      expect(res.body.error.code).toBe("UNAUTHORIZED");
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
    }
    // Every /internal route is behind the key, including unknown ones.
    expect((await post(app.url, "/internal/users/u1/disconnect", {}, { authorization: null })).status).toBe(
      401,
    );
    expect((await post(app.url, "/internal/rooms/room:x/messages", {}, { authorization: null })).status).toBe(
      401,
    );
    expect((await post(app.url, "/internal/nothing", {}, { authorization: null })).status).toBe(401);
    expect((await post(app.url, "/internal/notifications", valid)).status).toBe(202);
  });

  it("answers 404 on every /internal route when no INTERNAL_API_KEY is configured", async () => {
    const app = await instance({ INTERNAL_API_KEY: undefined });
    for (const path of [
      "/internal/notifications",
      "/internal/users/u1/disconnect",
      "/internal/rooms/room:x/messages",
    ]) {
      const res = await post(app.url, path, valid);
      expect(res.status, path).toBe(404);
      expect(res.body.error.code).toBe("NOT_FOUND");
    }
  });

  it("answers 404 NOT_FOUND for an unknown /internal route with the right key", async () => {
    const app = await instance();
    const res = await post(app.url, "/internal/nothing", valid);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("NOT_FOUND");
  });

  it("rate limits per key with 429 RATE_LIMITED and Retry-After, keyed by a hash of the key", async () => {
    const app = await instance({ RATE_INTERNAL_API_PER_SEC: "2" });
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await post(app.url, "/internal/notifications", valid));
    expect(results.map((r) => r.status)).toEqual([202, 202, 429]);
    const limited = results[2];
    expect(limited?.body.error.code).toBe("RATE_LIMITED");
    expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const client = fixture.redis.client();
    try {
      const keys = await client.keys(`${app.app.config.redis.keyPrefix}*`);
      expect(keys.some((k) => k.includes("rl:internal-api"))).toBe(true);
      expect(keys.filter((k) => k.includes(API_KEY))).toEqual([]);
    } finally {
      client.disconnect();
    }
  });
});

/** `{"a": [[...]]}`: an object `depth` levels deep counting `data` itself. */
const nested = (depth: number): Record<string, unknown> => {
  let value: unknown = 1;
  for (let i = 1; i < depth; i++) value = [value];
  return { a: value };
};

describe("POST /internal/notifications validation", () => {
  const longData = { blob: "x".repeat(8 * 1024) };
  const cases: [string, unknown, string][] = [
    ["no userIds", { type: "t", title: "x" }, "userIds"],
    ["empty userIds", { ...valid, userIds: [] }, "userIds"],
    ["1001 userIds", { ...valid, userIds: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, "userIds"],
    ["a malformed user id", { ...valid, userIds: ["ok", "has space"] }, "userIds.1"],
    ["a non-string user id", { ...valid, userIds: [7] }, "userIds.0"],
    ["no type", { userIds: ["u"], title: "x" }, "type"],
    ["a type over 64", { ...valid, type: "t".repeat(65) }, "type"],
    ["no title", { userIds: ["u"], type: "t" }, "title"],
    ["an empty title", { ...valid, title: "" }, "title"],
    ["a title over 200", { ...valid, title: "t".repeat(201) }, "title"],
    ["a body over 2000", { ...valid, body: "b".repeat(2001) }, "body"],
    ["data as an array", { ...valid, data: [1, 2] }, "data"],
    ["data as a string", { ...valid, data: "x" }, "data"],
    ["data over 8 KiB", { ...valid, data: longData }, "data"],
    ["data nested 33 levels deep", { ...valid, data: nested(33) }, "data"],
    ["an empty idempotencyKey", { ...valid, idempotencyKey: "" }, "idempotencyKey"],
    ["an array body", [valid], "(root)"],
  ];

  it.each(cases)("answers 400 INVALID_PAYLOAD naming the field for %s", async (_name, body, field) => {
    const app = await instance();
    const res = await publish(app.url, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("INVALID_PAYLOAD");
    expect(res.body.error.fields.map((f: { path: string }) => f.path)).toContain(field);
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js):\d+/);
  });

  it("answers 400 INVALID_PAYLOAD, not 500, to data nested deeper than a recursive walk can go", async () => {
    const app = await instance();
    // 12 000 levels in 24 KB, well under the body limit: too deep for JSON.stringify's stack.
    const depth = 12_000;
    const rawBody = `{"userIds":["u1"],"type":"t","title":"x","data":{"a":${"[".repeat(depth)}${"]".repeat(depth)}}}`;
    const res = await post(app.url, "/internal/notifications", null, { rawBody });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("INVALID_PAYLOAD");
    expect(res.body.error.fields).toEqual([
      { path: "data", message: "must be nested at most 32 levels deep" },
    ]);
    // The instance is unharmed: the next request is served.
    expect((await publish(app.url, valid)).status).toBe(202);
  });

  it("accepts data nested 32 levels deep", async () => {
    const app = await instance();
    expect((await publish(app.url, { ...valid, data: nested(32) })).status).toBe(202);
  });

  it("answers 400 INVALID_PAYLOAD to a body that is not JSON", async () => {
    const app = await instance();
    const malformed = await post(app.url, "/internal/notifications", null, { rawBody: "{not json" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("INVALID_PAYLOAD");
    const text = await post(app.url, "/internal/notifications", null, {
      rawBody: "userIds=u1",
      contentType: "text/plain",
    });
    expect(text.status).toBe(400);
    expect(text.body.error.fields.map((f: { path: string }) => f.path)).toContain("(root)");
  });

  it("accepts every field at its limit, and 1000 users in one request", async () => {
    const app = await instance();
    const data = { blob: "x".repeat(8 * 1024 - 20) };
    const userIds = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
    const res = await publish(app.url, {
      userIds,
      type: "t".repeat(64),
      title: "t".repeat(200),
      body: "b".repeat(2000),
      data,
      idempotencyKey: "k".repeat(200),
    });
    expect(res.status).toBe(202);
    expect(res.body.notifications.map((n: { userId: string }) => n.userId)).toEqual(userIds);
    const last = await connected(app.url, await tokenFor("user-999"));
    const listed = await ok(last, "notification:list", {});
    expect(listed.items.map((n) => n.id)).toEqual([res.body.notifications[999].id]);
    expect(listed.items[0]?.data).toEqual(data);
  });

  it("publishes once per user when a user is listed twice", async () => {
    const app = await instance();
    const res = await publish(app.url, { ...valid, userIds: ["dup", "other", "dup"] });
    expect(res.body.notifications.map((n: { userId: string }) => n.userId)).toEqual(["dup", "other"]);
    const dup = await connected(app.url, await tokenFor("dup"));
    expect((await ok(dup, "notification:list", {})).items).toHaveLength(1);
  });
});

describe("internal API operations", () => {
  it("logs a publish without its body, data or key", async () => {
    const app = await instance();
    const res = await publish(app.url, {
      userIds: ["p1", "p2"],
      type: "secret.test",
      title: "t",
      body: "body-marker-91",
      data: { token: "data-marker-77" },
      idempotencyKey: "idem-5",
    });
    expect(res.status).toBe(202);
    const line = app.logs.find((l) => l.msg === "notifications published");
    expect(line).toMatchObject({ users: 2, type: "secret.test", idempotencyKey: "idem-5", replayed: false });
    const all = app.logs.raw.join("\n");
    expect(all).not.toContain("body-marker-91");
    expect(all).not.toContain("data-marker-77");
    expect(all).not.toContain(API_KEY);
  });

  it("counts one stored notification per recipient in rt_notifications_published_total, replays excluded", async () => {
    const app = await instance();
    const body = { userIds: ["m1", "m2"], type: "t", title: "x", idempotencyKey: "metrics-1" };
    expect((await publish(app.url, body)).status).toBe(202);
    expect((await publish(app.url, body)).headers.get("idempotent-replayed")).toBe("true");
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(text).toMatch(/^rt_notifications_published_total 2$/m);
  });

  it("answers 503 UNAVAILABLE when Redis is down", async () => {
    const own = await startRedis();
    try {
      const app = await instance({ REDIS_URL: own.url });
      expect((await publish(app.url, valid)).status).toBe(202);
      await own.stop("SIGKILL");
      await eventually(() => !app.app.redis?.isReady());
      const res = await publish(app.url, valid);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe("UNAVAILABLE");
    } finally {
      await own.destroy();
    }
  });

  it("disconnects every socket of a user on every instance, and nobody else", async () => {
    const shared = { REDIS_KEY_PREFIX: uniquePrefix() };
    const a = await instance(shared);
    const b = await instance(shared);
    const quinnA = await connected(a.url, await tokenFor("quinn"));
    const quinnB = await connected(b.url, await tokenFor("quinn"));
    const rita = await connected(b.url, await tokenFor("rita"));
    const gone = (socket: typeof quinnA) =>
      new Promise<string>((resolve) => socket.once("disconnect", resolve));
    const goneA = gone(quinnA);
    const goneB = gone(quinnB);

    const res = await post(a.url, "/internal/users/quinn/disconnect", {});
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ userId: "quinn" });
    expect(await goneA).toBe("io server disconnect");
    expect(await goneB).toBe("io server disconnect");
    expect(rita.connected).toBe(true);
    expect((await ok(rita, "notification:list", {})).items).toEqual([]);
  });

  it("answers 400 to a malformed user id on disconnect", async () => {
    const app = await instance();
    const res = await post(app.url, "/internal/users/bad%20id/disconnect", {});
    expect(res.status).toBe(400);
    expect(res.body.error.fields.map((f: { path: string }) => f.path)).toEqual(["userId"]);
  });
});

describe("POST /internal/rooms/:roomId/messages", () => {
  it("stores a system message and broadcasts it to the room's members on every instance", async () => {
    const shared = { REDIS_KEY_PREFIX: uniquePrefix() };
    const a = await instance(shared);
    const b = await instance(shared);
    const member = await connected(b.url, await tokenFor("sam", { rooms: ["team:*"] }));
    await ok(member, "chat:join", { roomId: "team:general" });
    const heard = nextEvent(member, "chat:message");

    const res = await post(a.url, "/internal/rooms/team:general/messages", { text: "  Deploy at 18:00  " });
    expect(res.status).toBe(201);
    expect(res.body.message).toMatchObject({
      roomId: "team:general",
      senderId: "system",
      text: "Deploy at 18:00",
    });
    expect(await heard).toEqual(res.body.message);

    const fromBot = await post(a.url, "/internal/rooms/team:general/messages", {
      text: "hi",
      senderId: "bot-1",
    });
    expect(fromBot.body.message.senderId).toBe("bot-1");
    const history = await ok(member, "chat:history", { roomId: "team:general" });
    expect(history.messages.map((m) => m.id)).toEqual([res.body.message.id, fromBot.body.message.id]);
  });

  it("answers 400 naming the field for a bad room id, text or sender", async () => {
    const app = await instance();
    const cases: [string, unknown, string][] = [
      ["/internal/rooms/nokind/messages", { text: "x" }, "roomId"],
      ["/internal/rooms/team:general/messages", {}, "text"],
      ["/internal/rooms/team:general/messages", { text: "" }, "text"],
      ["/internal/rooms/team:general/messages", { text: "   " }, "text"],
      ["/internal/rooms/team:general/messages", { text: "x", senderId: "has space" }, "senderId"],
    ];
    for (const [path, body, field] of cases) {
      const res = await post(app.url, path, body);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body.error.code).toBe("INVALID_PAYLOAD");
      expect(res.body.error.fields.map((f: { path: string }) => f.path)).toContain(field);
    }
  });

  it("refuses to post into the server-managed user rooms", async () => {
    const app = await instance();
    const res = await post(app.url, "/internal/rooms/user:victim/messages", { text: "spoof" });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("FORBIDDEN");
  });
});
