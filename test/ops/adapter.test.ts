import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { userRoom } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, nextEvent, record } from "../helpers/client.js";
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
