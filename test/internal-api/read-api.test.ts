import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

const KEY = "read-api-test-key-0123456789";

let redis: RedisServer;
const apps: TestApp[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  closeAllClients();
  await Promise.all(apps.splice(0).map((a) => a.close()));
});
afterAll(async () => {
  await redis.destroy();
});

async function get(app: TestApp, path: string, key = KEY) {
  const res = await fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const member = async (app: TestApp, userId: string) => {
  const socket = await connected(app.url, await tokenFor(userId, { rooms: ["team:*"] }));
  await ok(socket, "chat:join", { roomId: "team:read" });
  return socket;
};

describe.each([
  ["Redis, two instances", true],
  ["memory", false],
])("the internal API's read side (%s)", (_name, withRedis) => {
  const start = async () => {
    const env = {
      INTERNAL_API_KEY: KEY,
      RATE_CHAT_SEND_PER_SEC: "1000",
      RATE_CHAT_SEND_BURST: "1000",
      ...(withRedis
        ? { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `ra${randomBytes(4).toString("hex")}:` }
        : {}),
    };
    apps.push(...(await Promise.all(withRedis ? [startApp(env), startApp(env)] : [startApp(env)])));
    return [apps[0] as TestApp, apps.at(-1) as TestApp] as const;
  };

  it("pages a room's history by sequence, newest first, and oldest first after a seq", async () => {
    const [a, b] = await start();
    const socket = await member(a, "hana");
    for (let i = 1; i <= 5; i++) await ok(socket, "chat:send", { roomId: "team:read", text: `m${i}` });

    const latest = await get(b, "/internal/rooms/team:read/messages?limit=2");
    expect(latest.status).toBe(200);
    expect(latest.body).toMatchObject({ roomId: "team:read", seq: 5, hasMore: true });
    const texts = (body: Record<string, unknown>) => (body.messages as { text: string }[]).map((m) => m.text);
    expect(texts(latest.body)).toEqual(["m4", "m5"]);
    expect(texts((await get(b, "/internal/rooms/team:read/messages?limit=2&beforeSeq=4")).body)).toEqual([
      "m2",
      "m3",
    ]);
    const after = await get(b, "/internal/rooms/team:read/messages?afterSeq=3");
    expect(texts(after.body)).toEqual(["m4", "m5"]);
    expect(after.body.hasMore).toBe(false);

    const bad = await get(b, "/internal/rooms/team:read/messages?limit=0");
    expect(bad).toMatchObject({ status: 400, body: { error: { code: "INVALID_PAYLOAD" } } });
    expect((await get(b, "/internal/rooms/not a room/messages")).status).toBe(400);
    expect((await get(b, "/internal/rooms/team:read/messages", "wrong-key")).status).toBe(401);
  });

  it("says who is online in a room and per user, with devices and status", async () => {
    const [a, b] = await start();
    await member(a, "ivo");
    await member(b, "ivo");
    const jo = await member(b, "jo");
    await ok(jo, "presence:set", { status: "busy", text: "in a meeting" });

    let users: { userId: string; devices: number; status: string }[] = [];
    await eventually(async () => {
      users = (await get(a, "/internal/rooms/team:read/online")).body.users as typeof users;
      return users.length === 2 && users.every((u) => u.devices >= 1);
    });
    expect(users.sort((x, y) => x.userId.localeCompare(y.userId))).toEqual([
      expect.objectContaining({ userId: "ivo", status: "online", devices: 2 }),
      expect.objectContaining({ userId: "jo", status: "busy", text: "in a meeting", devices: 1 }),
    ]);
    expect((await get(a, "/internal/users/jo/presence")).body).toMatchObject({ status: "busy", devices: 1 });
    expect((await get(a, "/internal/users/nobody/presence")).body).toMatchObject({
      userId: "nobody",
      status: "offline",
      devices: 0,
    });
    expect((await get(a, "/internal/rooms/team:empty/online")).body).toEqual({
      roomId: "team:empty",
      users: [],
    });
  });

  it("answers a user's unread notification count", async () => {
    const [a, b] = await start();
    const res = await fetch(`${a.url}/internal/notifications`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ userIds: ["kai"], type: "t", title: "one" }),
    });
    expect(res.status).toBe(202);
    await fetch(`${a.url}/internal/notifications`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ userIds: ["kai"], type: "t", title: "two" }),
    });
    expect((await get(b, "/internal/users/kai/notifications/unread-count")).body).toEqual({
      userId: "kai",
      unreadCount: 2,
    });
    expect((await get(b, "/internal/users/nobody/notifications/unread-count")).body).toEqual({
      userId: "nobody",
      unreadCount: 0,
    });
  });

  it("lists the running instances with their connection counts", async () => {
    const [a, b] = await start();
    await member(a, "lea");
    await member(b, "lea");
    await member(b, "max");
    const expected = withRedis
      ? [
          { instanceId: a.app.instanceId, connections: 1 },
          { instanceId: b.app.instanceId, connections: 2 },
        ]
      : [{ instanceId: a.app.instanceId, connections: 3 }];
    let instances: { instanceId: string; connections: number; lastHeartbeat: number }[] = [];
    await eventually(async () => {
      instances = (await get(a, "/internal/instances")).body.instances as typeof instances;
      const counts = instances.map(({ instanceId, connections }) => ({ instanceId, connections }));
      return (
        JSON.stringify(counts.sort((x, y) => x.instanceId.localeCompare(y.instanceId))) ===
        JSON.stringify([...expected].sort((x, y) => x.instanceId.localeCompare(y.instanceId)))
      );
    });
    for (const instance of instances) expect(instance.lastHeartbeat).toBeGreaterThan(Date.now() - 60_000);
  });
});
