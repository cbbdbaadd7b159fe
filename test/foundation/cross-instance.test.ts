import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { userRoom } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, nextEvent, record, sleep } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

describe("two instances over one Redis", () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `t${Date.now()}:` };
    // The bare foundation, no features: nothing else emits to the user rooms here.
    a = await startApp({ ...env, INSTANCE_ID: "A" }, () => []);
    b = await startApp({ ...env, INSTANCE_ID: "B" }, () => []);
  });
  afterEach(() => closeAllClients());
  afterAll(async () => {
    await a.close();
    await b.close();
    await redis.destroy();
  });

  it("delivers io.to('user:bob').emit on A to bob connected to B, once", async () => {
    const bob = await connected(b.url, await tokenFor("bob"));
    const seen = record(bob, "notification:unread");
    const arrived = nextEvent(bob, "notification:unread");
    a.app.io.to(userRoom("bob")).emit("notification:unread", { count: 42 });
    expect(await arrived).toEqual({ count: 42 });
    await sleep(200);
    expect(seen).toEqual([{ count: 42 }]);
  });

  it("does not deliver to other users", async () => {
    const carol = await connected(b.url, await tokenFor("carol"));
    const seen = record(carol, "notification:unread");
    const bob = await connected(b.url, await tokenFor("bob"));
    const arrived = nextEvent(bob, "notification:unread");
    a.app.io.to(userRoom("bob")).emit("notification:unread", { count: 1 });
    await arrived;
    await sleep(200);
    expect(seen).toEqual([]);
  });
});
