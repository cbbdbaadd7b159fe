import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { userRoom } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, nextEvent, ok, record } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

afterEach(() => closeAllClients());

describe("REDIS_ADAPTER", () => {
  let redis: RedisServer;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    if (
      redis.port &&
      !(await redis
        .client()
        .ping()
        .catch(() => false))
    )
      await redis.start();
  });
  afterAll(async () => {
    await redis.destroy();
  });

  it("picks the sharded adapter on Redis 7 by itself, and logs the choice", async () => {
    const t = await startApp({ REDIS_URL: redis.url }, () => []);
    apps.push(t);
    expect(t.logs.find((l) => l.msg === "redis adapter")).toMatchObject({
      adapter: "sharded",
      serverVersion: expect.stringMatching(/^7\./),
    });
  });

  for (const adapter of ["classic", "sharded"] as const) {
    it(`delivers across instances with REDIS_ADAPTER=${adapter}`, async () => {
      const env = { REDIS_URL: redis.url, REDIS_ADAPTER: adapter, REDIS_KEY_PREFIX: `ad${adapter}:` };
      const a = await startApp(env, () => []);
      const b = await startApp(env, () => []);
      apps.push(a, b);
      expect(a.logs.find((l) => l.msg === "redis adapter")).toMatchObject({ adapter });
      const bob = await connected(b.url, await tokenFor("bob"));
      const arrived = nextEvent(bob, "notification:unread");
      a.app.io.to(userRoom("bob")).emit("notification:unread", { count: 7 });
      expect(await arrived).toEqual({ count: 7 });
    });

    it(`delivers to local sockets at once while Redis is down (${adapter})`, async () => {
      const t = await startApp(
        { REDIS_URL: redis.url, REDIS_ADAPTER: adapter, REDIS_KEY_PREFIX: `dn${adapter}:` },
        () => [],
      );
      apps.push(t);
      const carol = await connected(t.url, await tokenFor("carol"));
      const seen = record(carol, "notification:unread");
      await redis.stop();
      t.app.io.to(userRoom("carol")).emit("notification:unread", { count: 1 });
      // Not held back until Redis returns: the local socket has it while Redis is still down.
      await eventually(() => seen.length === 1, 1000);
      expect(seen).toEqual([{ count: 1 }]);
      await redis.start();
    });
  }
});

describe("no window between joining a room and receiving its broadcasts", () => {
  const fixture = usePrivateRedis<TestApp>();

  for (const adapter of ["classic", "sharded"] as const) {
    it(`delivers what another instance broadcasts right after a join or a connect is acknowledged (${adapter})`, async () => {
      const env = {
        REDIS_URL: fixture.redis.url,
        REDIS_ADAPTER: adapter,
        REDIS_KEY_PREFIX: `win${adapter}:`,
        RATE_CHAT_TYPING_PER_SEC: "1000",
        RATE_CHAT_JOIN_PER_SEC: "1000",
      };
      const a = await startApp(env);
      const b = await startApp(env);
      fixture.apps.push(a, b);
      const typist = await connected(a.url, await tokenFor("typist", { rooms: ["team:*"] }));
      for (let i = 0; i < 15; i++) {
        // A user room: joined during the handshake, so usable as soon as `connect` fires.
        const user = await connected(b.url, await tokenFor(`w${i}`, { rooms: ["team:*"] }));
        const typing = record(user, "chat:typing");
        const unread = record(user, "notification:unread");
        a.app.io.to(userRoom(`w${i}`)).emit("notification:unread", { count: 1000 + i });
        // A chat room: an event published on A right after B acknowledged the join.
        await ok(typist, "chat:join", { roomId: `team:w${i}` });
        await ok(user, "chat:join", { roomId: `team:w${i}` });
        await ok(typist, "chat:typing", { roomId: `team:w${i}`, typing: true });
        await eventually(() => typing.length === 1 && unread.some((u) => u.count === 1000 + i), 2000);
      }
    });
  }
});

describe("sharded subscriptions", () => {
  const fixture = usePrivateRedis<TestApp>();

  it("makes socket.join wait until Redis has the room's subscription, however slow it is", async () => {
    const env = { REDIS_URL: fixture.redis.url, REDIS_ADAPTER: "sharded", REDIS_KEY_PREFIX: "slowsub:" };
    const a = await startApp(env, () => []);
    const b = await startApp(env, () => []);
    fixture.apps.push(a, b);
    const client = await connected(b.url, await tokenFor("slow"));
    const seen = record(client, "notification:unread");
    const server = [...b.app.io.of("/").sockets.values()][0];
    if (!server || !b.app.redis) throw new Error("no socket or no redis");
    // Hold B's subscriber connection for 300 ms, as a congested link would.
    const stream = (b.app.redis.sub as unknown as { stream: import("node:net").Socket }).stream;
    stream.cork();
    setTimeout(() => stream.uncork(), 300);
    const started = Date.now();
    // A presence room: its broadcasts cross instances through the adapter.
    await server.join("presence:slow");
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    a.app.io.to("presence:slow").emit("notification:unread", { count: 42 });
    await eventually(() => seen.some((p) => p.count === 42), 2000);
  });
});
