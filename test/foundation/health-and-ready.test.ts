import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

const getJson = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe("health and readiness", () => {
  let redis: RedisServer;
  let t: TestApp | undefined;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    closeAllClients();
    await t?.close();
    t = undefined;
  });
  afterAll(async () => {
    await redis.destroy();
  });

  it("answers /health with status, instance id, version and uptime", async () => {
    t = await startApp({ INSTANCE_ID: "health-1" });
    const { status, body } = await getJson(`${t.url}/health`);
    expect(status).toBe(200);
    expect(body).toEqual({
      status: "ok",
      instanceId: "health-1",
      version: "0.0.0",
      uptimeSec: expect.any(Number),
    });
  });

  it("is ready without Redis when none is configured", async () => {
    t = await startApp();
    expect((await getJson(`${t.url}/ready`)).status).toBe(200);
  });

  it("is not ready while Redis is down, and ready again once it returns", async () => {
    t = await startApp({ REDIS_URL: redis.url });
    expect((await getJson(`${t.url}/ready`)).status).toBe(200);

    await redis.stop();
    await eventually(async () => (await getJson(`${t?.url}/ready`)).status === 503, 3000);
    const down = await getJson(`${t.url}/ready`);
    expect(down.body).toMatchObject({ status: "not_ready", reason: "redis unavailable" });
    // /health is liveness: a Redis outage does not make the process unhealthy.
    expect((await getJson(`${t.url}/health`)).status).toBe(200);

    await redis.start();
    await eventually(async () => (await getJson(`${t?.url}/ready`)).status === 200, 8000);
  });

  it("turns not ready at once when draining", async () => {
    t = await startApp({ SHUTDOWN_GRACE_MS: "1500" });
    // A connected client keeps the server draining (not closed) for the grace period.
    await connected(t.url, await tokenFor("drainer"));
    const shutdown = t.app.shutdown("test");
    const { status, body } = await getJson(`${t.url}/ready`);
    expect(status).toBe(503);
    expect(body).toMatchObject({ status: "not_ready", reason: "draining" });
    await shutdown;
    t = undefined;
  });
});
