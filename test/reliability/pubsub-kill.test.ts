import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { userRoom } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok, record } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

/** Emit from A every 100 ms until B's client sees it; resolves with the time it took. */
async function deliveryResumes(a: TestApp, seen: { count: number }[], timeoutMs: number): Promise<number> {
  const started = Date.now();
  let n = 1000;
  while (Date.now() - started < timeoutMs) {
    n += 1;
    a.app.io.to(userRoom("bob")).emit("notification:unread", { count: n });
    await new Promise((r) => setTimeout(r, 100));
    if (seen.some((p) => p.count > 1000)) return Date.now() - started;
  }
  throw new Error(`cross-instance delivery did not resume within ${timeoutMs} ms`);
}

describe("pub/sub connections killed by Redis (CLIENT KILL TYPE pubsub)", () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `pk${Date.now()}:` };
    a = await startApp(env, () => []);
    b = await startApp(env, () => []);
  });
  afterAll(async () => {
    closeAllClients();
    await a.close();
    await b.close();
    await redis.destroy();
  });

  it("resumes cross-instance delivery within 5 s after the subscriber connections are killed", async () => {
    const bob = await connected(b.url, await tokenFor("bob"));
    const seen = record(bob, "notification:unread");
    a.app.io.to(userRoom("bob")).emit("notification:unread", { count: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toEqual([{ count: 1 }]);

    const admin = redis.client();
    const killed = Number(await admin.call("CLIENT", "KILL", "TYPE", "pubsub"));
    expect(killed).toBeGreaterThanOrEqual(2);
    await admin.quit();

    const tookMs = await deliveryResumes(a, seen, 5000);
    expect(tookMs).toBeLessThan(5000);
    expect(b.logs.lines.some((l) => l.module === "redis" && l.role === "sub" && l.state === "closed")).toBe(
      true,
    );
  });
});

describe("chat across a CLIENT KILL TYPE pubsub", () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `pc${Date.now()}:`,
      RATE_CHAT_SEND_PER_SEC: "1000",
    };
    a = await startApp(env);
    b = await startApp(env);
  });
  afterAll(async () => {
    closeAllClients();
    await a.close();
    await b.close();
    await redis.destroy();
  });

  it("hands B's sockets every message stored while its subscription was down, in order and once, unasked", async () => {
    const alice = await connected(a.url, await tokenFor("alice", { rooms: ["team:*"] }));
    const bob = await connected(b.url, await tokenFor("bob", { rooms: ["team:*"] }));
    const roomId = "team:core";
    for (const s of [alice, bob]) await ok(s, "chat:join", { roomId });
    const bobSees = record(bob, "chat:message");
    const sent: number[] = [];
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        sent.push((await ok(alice, "chat:send", { roomId, text: `m${sent.length}` })).seq);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await send(5);
    const admin = redis.client();
    expect(Number(await admin.call("CLIENT", "KILL", "TYPE", "pubsub"))).toBeGreaterThanOrEqual(2);
    await admin.quit();
    await send(40);
    await send(5);
    await eventually(() => bobSees.length >= sent.length, 5000);
    await new Promise((r) => setTimeout(r, 200));
    // Bob did nothing but listen: no gap, no duplicate, log order.
    expect(bobSees.map((m) => m.seq)).toEqual(sent);
    expect(sent).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(b.logs.lines.some((l) => l.msg === "room subscriptions restored")).toBe(true);
  });
});
