import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareMessageIds } from "../../src/chat/message-id.js";
import { userRoom } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok, record, request } from "../helpers/client.js";
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
  let kills = 0;
  const resyncsLogged = () =>
    b.logs.lines.filter((l) => l.msg === "pub/sub link restored: asking local sockets to resync").length;

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

  it("delivers chat messages from A to B again within 5 s, and B's client finds any it missed in the history", async () => {
    const alice = await connected(a.url, await tokenFor("alice", { rooms: ["team:*"] }));
    const bob = await connected(b.url, await tokenFor("bob", { rooms: ["team:*"] }));
    for (const s of [alice, bob]) await ok(s, "chat:join", { roomId: "team:core" });
    const bobSees = record(bob, "chat:message");

    const admin = redis.client();
    expect(Number(await admin.call("CLIENT", "KILL", "TYPE", "pubsub"))).toBeGreaterThanOrEqual(2);
    kills += 1;
    await admin.quit();
    const killedAt = Date.now();
    const sent: string[] = [];
    while (!bobSees.some((m) => m.id === sent.at(-1))) {
      if (Date.now() - killedAt > 5000)
        throw new Error("chat delivery from A to B did not resume within 5 s");
      sent.push((await ok(alice, "chat:send", { roomId: "team:core", text: `after ${sent.length}` })).id);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Live delivery is at most once: what was published while B re-subscribed is not
    // re-sent, but every acknowledged message is in the history B's client can read.
    const missedLive = sent.filter((id) => !bobSees.some((m) => m.id === id));
    console.info(
      `pubsub kill (chat): resumed after ${Date.now() - killedAt} ms, ${missedLive.length} missed live`,
    );
    const history = await ok(bob, "chat:history", { roomId: "team:core", limit: 100 });
    expect(history.messages.map((m) => m.id)).toEqual(sent);
  });

  it("tells B's sockets to resync once its subscriber is back, so a client that follows it misses nothing", async () => {
    // A kill by an earlier test of this file is followed by its own resync: let it pass first.
    await eventually(() => resyncsLogged() === kills, 3000);
    const alice = await connected(a.url, await tokenFor("alice", { rooms: ["team:*"] }));
    const bob = await connected(b.url, await tokenFor("bob", { rooms: ["team:*"] }));
    const roomId = "team:resync";
    for (const s of [alice, bob]) await ok(s, "chat:join", { roomId });
    // Bob's view: live messages, plus what the history returns after each resync.
    const bobHas = new Map<string, string>();
    const resyncs: { roomId: string; since: string }[] = [];
    bob.on("chat:message", (m) => bobHas.set(m.id, m.text));
    bob.on("chat:resync", async (notice) => {
      resyncs.push(notice);
      if (!bob.connected) return;
      // After `since`, not after the newest id Bob has: live messages resumed before the
      // notice, and the ones missed are older than those.
      const page = await request(bob, "chat:history", {
        roomId: notice.roomId,
        after: notice.since,
        limit: 100,
      });
      if (page.ok) for (const m of page.data.messages) bobHas.set(m.id, m.text);
    });

    const sent: string[] = [];
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        sent.push((await ok(alice, "chat:send", { roomId, text: `m${sent.length}` })).id);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await send(5);
    expect(resyncs).toEqual([]);

    const admin = redis.client();
    await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    kills += 1;
    await admin.quit();
    await send(40);
    await eventually(() => resyncs.length > 0, 5000);
    expect(resyncs[0]).toEqual({ roomId, since: expect.stringMatching(/^\d+-0$/) });
    await send(5);
    await eventually(() => sent.every((id) => bobHas.has(id)), 5000);
    expect([...bobHas.keys()].sort(compareMessageIds)).toEqual(sent);
  });
});
