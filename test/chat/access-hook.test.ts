import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BackendReceiver } from "../helpers/backend-receiver.js";
import { ChildServer } from "../helpers/child-server.js";
import { closeAllClients, connected, nextEvent, ok, record, request, sleep } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";
import { type ChatTestApp, startChatApp, uniquePrefix, user } from "./support.js";

/** Room access decided by the backend (ROOM_ACCESS_URL) for joins the token's claims do not grant. */

const ACCESS_KEY = "room-access-test-key";

let redis: RedisServer;
let backend: BackendReceiver;
const apps: ChatTestApp[] = [];
let child: ChildServer | undefined;

beforeAll(async () => {
  redis = await startRedis();
});
beforeEach(async () => {
  backend = await new BackendReceiver().start();
});
afterEach(async () => {
  closeAllClients();
  await child?.kill();
  child = undefined;
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await backend.stop();
});
afterAll(async () => {
  await redis.destroy();
});

function hookEnv(env: Record<string, string> = {}) {
  return {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: uniquePrefix("access"),
    ROOM_ACCESS_URL: `${backend.url}/room-access`,
    ROOM_ACCESS_KEY: ACCESS_KEY,
    ...env,
  };
}

async function chatApp(env: Record<string, string> = hookEnv()) {
  const app = await startChatApp(env);
  apps.push(app);
  return app;
}

/** The backend lets `allowed` users into `group:` rooms, for `ttlSec` when given. */
function allowOnly(allowed: string[], ttlSec?: number) {
  backend.answer = (call) => ({
    body: {
      allow: allowed.includes(call.body.userId as string),
      ...(ttlSec === undefined ? {} : { ttlSec }),
    },
  });
}

describe("the room access hook", () => {
  it("asks the backend with the user and room, authenticated with ROOM_ACCESS_KEY, and joins when it allows", async () => {
    allowOnly(["ann"]);
    const app = await chatApp();
    const ann = await user(app, "ann", { rooms: [] });
    expect((await ok(ann, "chat:join", { roomId: "group:1" })).roomId).toBe("group:1");
    expect(backend.calls).toEqual([
      {
        path: "/room-access",
        authorization: `Bearer ${ACCESS_KEY}`,
        body: { userId: "ann", roomId: "group:1" },
      },
    ]);
    expect((await ok(ann, "chat:send", { roomId: "group:1", text: "hi" })).text).toBe("hi");
  });

  it("refuses the join FORBIDDEN when the backend denies it", async () => {
    allowOnly([]);
    const app = await chatApp();
    const bo = await user(app, "bo", { rooms: [] });
    const res = await request(bo, "chat:join", { roomId: "group:1" });
    expect(res).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
  });

  it("does not ask the backend for a room the claims grant, nor ever for a DM or a server-managed room", async () => {
    allowOnly(["cy"]);
    const app = await chatApp();
    const cy = await user(app, "cy", { rooms: ["team:*"] });
    await ok(cy, "chat:join", { roomId: "team:a" });
    expect(await request(cy, "chat:join", { roomId: "dm:ann:bo" })).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN" },
    });
    expect(await request(cy, "chat:join", { roomId: "user:ann" })).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN" },
    });
    expect(backend.calls).toEqual([]);
  });

  it("answers UNAVAILABLE when the backend does not answer within ROOM_ACCESS_TIMEOUT_MS", async () => {
    backend.answer = () => ({ body: { allow: true }, delayMs: 2000 });
    const app = await chatApp(hookEnv({ ROOM_ACCESS_TIMEOUT_MS: "200" }));
    const dee = await user(app, "dee", { rooms: [] });
    const res = await request(dee, "chat:join", { roomId: "group:1" });
    expect(res).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
  });

  it("answers UNAVAILABLE on a 5xx or an unreadable answer, caching nothing", async () => {
    backend.answer = () => ({ status: 503, body: { allow: true } });
    const app = await chatApp();
    const eve = await user(app, "eve", { rooms: [] });
    expect(await request(eve, "chat:join", { roomId: "group:1" })).toMatchObject({
      ok: false,
      error: { code: "UNAVAILABLE" },
    });
    backend.answer = () => ({ body: { allow: "yes" } });
    expect(await request(eve, "chat:join", { roomId: "group:1" })).toMatchObject({
      ok: false,
      error: { code: "UNAVAILABLE" },
    });
    allowOnly(["eve"]);
    expect((await ok(eve, "chat:join", { roomId: "group:1" })).roomId).toBe("group:1");
    expect(backend.calls).toHaveLength(3);
  });

  it("shares its answers across instances: a second instance does not ask again within the ttl", async () => {
    allowOnly(["fin"], 60);
    const env = hookEnv();
    const a = await chatApp(env);
    child = await new ChildServer(env).start();
    const token = await tokenFor("fin", { rooms: [] });
    const onA = await connected(a.url, token);
    const onB = await connected(child.url, token);
    await ok(onA, "chat:join", { roomId: "group:1" });
    await ok(onB, "chat:join", { roomId: "group:1" });
    await ok(onB, "chat:send", { roomId: "group:1", text: "from b" });
    expect(backend.calls).toHaveLength(1);
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toContain('rt_backend_hook_calls_total{hook="room_access",outcome="allow"} 1');
  });

  it("re-checks sends once the answer expired: refused, out of the room, when the backend now denies", async () => {
    allowOnly(["gil"], 1);
    const app = await chatApp();
    const gil = await user(app, "gil", { rooms: [] });
    await ok(gil, "chat:join", { roomId: "group:1" });
    await ok(gil, "chat:send", { roomId: "group:1", text: "cached" });
    expect(backend.calls).toHaveLength(1);

    allowOnly([]);
    await sleep(1200);
    const left = nextEvent(gil, "chat:left");
    expect(await request(gil, "chat:send", { roomId: "group:1", text: "denied" })).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN" },
    });
    expect(await left).toEqual({ roomId: "group:1", reason: "denied" });
    expect(backend.calls).toHaveLength(2);
    // Gone from gil's room list too: the room's later activity is not announced to gil.
    const announced = record(gil, "chat:room");
    const bob = await user(app, "bob", { rooms: ["group:*"] });
    await ok(bob, "chat:join", { roomId: "group:1" });
    await ok(bob, "chat:send", { roomId: "group:1", text: "after gil" });
    await sleep(1500);
    expect(announced).toEqual([]);
  });

  it("re-checks typing once the answer expired, asking the backend again", async () => {
    allowOnly(["hu"], 1);
    const app = await chatApp();
    const hu = await user(app, "hu", { rooms: [] });
    await ok(hu, "chat:join", { roomId: "group:1" });
    await ok(hu, "chat:typing", { roomId: "group:1", typing: true });
    expect(backend.calls).toHaveLength(1);
    await sleep(1200);
    await ok(hu, "chat:typing", { roomId: "group:1", typing: false });
    expect(backend.calls).toHaveLength(2);
    allowOnly([], 1);
    await sleep(1200);
    expect(await request(hu, "chat:typing", { roomId: "group:1", typing: true })).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN" },
    });
  });

  it("lists a room the hook granted in chat:rooms, and hides it once the backend denies it", async () => {
    allowOnly(["ivy"], 1);
    const app = await chatApp();
    const ivy = await user(app, "ivy", { rooms: [] });
    await ok(ivy, "chat:join", { roomId: "group:1" });
    await ok(ivy, "chat:send", { roomId: "group:1", text: "listed" });
    expect((await ok(ivy, "chat:rooms", {})).rooms.map((r) => r.roomId)).toEqual(["group:1"]);
    allowOnly([]);
    await sleep(1200);
    expect((await ok(ivy, "chat:rooms", {})).rooms).toEqual([]);
  });
});
