import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connectError, connected } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

afterEach(() => closeAllClients());

describe("connections per user across instances", () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `cl${Date.now()}:`, MAX_CONNECTIONS_PER_USER: "3" };
    a = await startApp(env, () => []);
    b = await startApp(env, () => []);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await redis.destroy();
  });

  it("refuses a user's socket past MAX_CONNECTIONS_PER_USER, counting every instance, and not other users", async () => {
    const token = await tokenFor("many");
    await connected(a.url, token);
    await connected(b.url, token);
    await connected(a.url, token);
    const err = await connectError(b.url, token);
    expect(err.data).toEqual({ status: 429, code: "TOO_MANY_CONNECTIONS" });
    expect((await connected(b.url, await tokenFor("someone-else"))).connected).toBe(true);
  });

  it("counts a closed socket out at once", async () => {
    const token = await tokenFor("churn");
    const first = await connected(a.url, token);
    await connected(b.url, token);
    await connected(b.url, token);
    first.disconnect();
    await new Promise((r) => setTimeout(r, 100));
    expect((await connected(b.url, token)).connected).toBe(true);
  });
});

describe("connection floods from one address", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp({ RATE_CONNECT_PER_IP_PER_MIN: "5", MAX_CONNECTIONS_PER_USER: "100" }, () => []);
  });
  afterAll(async () => {
    await t.close();
  });

  it("refuses handshakes past the per-address rate with RATE_LIMITED and a retry hint", async () => {
    const token = await tokenFor("flooder");
    for (let i = 0; i < 5; i++) await connected(t.url, token);
    const err = await connectError(t.url, token);
    expect(err.data).toMatchObject({ status: 429, code: "RATE_LIMITED", retryAfterMs: expect.any(Number) });
    // The flood did not take the server down: the sockets already admitted still work.
    expect(t.app.io.of("/").sockets.size).toBe(5);
  });
});

describe("token guessing from one address", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp({ RATE_CONNECT_PER_IP_PER_MIN: "5", MAX_CONNECTIONS_PER_USER: "100" }, () => []);
  });
  afterAll(async () => {
    await t.close();
  });

  it("counts handshakes refused by authentication, so a valid token after them is refused RATE_LIMITED", async () => {
    const bad = [undefined, "not.a.jwt", await tokenFor("guesser", {}, { secret: "x".repeat(40) })];
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await connectError(t.url, bad[i % bad.length])).data?.code);
    expect(codes).toEqual([
      "TOKEN_MISSING",
      "TOKEN_INVALID",
      "TOKEN_INVALID",
      "TOKEN_MISSING",
      "TOKEN_INVALID",
    ]);
    const err = await connectError(t.url, await tokenFor("guesser"));
    expect(err.data).toMatchObject({ status: 429, code: "RATE_LIMITED", retryAfterMs: expect.any(Number) });
    // Refused before its token was looked at: a missing token gets the same answer.
    expect((await connectError(t.url, undefined)).data?.code).toBe("RATE_LIMITED");
  });
});

describe("connections while Redis is down", () => {
  let redis: RedisServer;
  let t: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    t = await startApp({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `cd${Date.now()}:` }, () => []);
  });
  afterAll(async () => {
    await t.close();
    await redis.destroy();
  });

  it("still admits a valid token within about a second: the per-user count is a guard, not a dependency", async () => {
    await redis.stop();
    const started = Date.now();
    const socket = await connected(t.url, await tokenFor("during-outage"));
    expect(socket.connected).toBe(true);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(t.logs.lines.some((l) => l.msg === "connection count unavailable")).toBe(true);
  });
});
