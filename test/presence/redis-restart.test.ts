import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/infra/logger.js";
import { createRedisConnections } from "../../src/infra/redis.js";
import { createRedisInstanceStore } from "../../src/instances/instance-store-redis.js";
import { createInstanceRegistry } from "../../src/instances/registry.js";
import { createRedisPresenceStore } from "../../src/presence/presence-store-redis.js";
import { createPresenceService } from "../../src/presence/service.js";
import type { PresenceState } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { eventually, ok, record, request, sleep } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { startRedis } from "../helpers/redis-server.js";
import { connectAs, presenceEnv } from "./support.js";

// No persistence: a restart comes back empty, the worst case for presence.
const fixture = usePrivateRedis<TestApp>();

describe("presence across a Redis restart", () => {
  it("re-registers every live connection after Redis comes back empty, and changes flow again", async () => {
    const prefix = `r${randomBytes(4).toString("hex")}:`;
    const env = presenceEnv(fixture.redis.url, prefix);
    fixture.apps.push(...(await Promise.all([startApp(env), startApp(env)])));
    const [a, b] = fixture.apps as [TestApp, TestApp];
    const as = connectAs;

    const kate = await as(a, "kate");
    await as(b, "liam");
    await as(b, "liam");
    const watcher = await as(a, "watcher");
    const seen = record(watcher, "presence:changed");
    await ok(watcher, "presence:subscribe", { userIds: ["kate", "liam", "nina", "omar"] });

    await fixture.redis.stop();
    const refused = await request(kate, "presence:set", { status: "away" });
    expect(refused).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    // A user who connects during the outage is written once Redis is back. (The
    // connection guard holds the handshake until the adapter answers, so the connect
    // may only complete after the restart.)
    const omar = as(b, "omar");
    await fixture.redis.start();
    await omar;

    // Right after the restart a query may still meet the reconnecting command connection
    // (UNAVAILABLE): that is "not yet", not a failure.
    const online = async (userId: string, devices: number) => {
      const res = await request(watcher, "presence:query", { userIds: [userId] });
      const state = res.ok ? res.data[0] : undefined;
      return state?.status === "online" && state.devices === devices;
    };
    await eventually(async () => (await online("kate", 1)) && (await online("liam", 2)), 10_000);
    await eventually(() => online("omar", 1), 5000);
    const check = fixture.redis.client();
    try {
      expect(await check.zcard(`${prefix}{instances}:live`)).toBe(2);
    } finally {
      check.disconnect();
    }

    // Cross-instance delivery and the grace work again.
    await as(b, "nina");
    await eventually(() => seen.some((s) => s.userId === "nina" && s.status === "online"), 5000);
    kate.disconnect();
    await eventually(() => seen.some((s) => s.userId === "kate" && s.status === "offline"), 5000);
    expect(seen.filter((s) => s.status === "offline").map((s) => s.userId)).toEqual(["kate"]);
  });
});

describe("presence writes during a Redis outage", () => {
  it("writes the connects and disconnects it could not write during an outage once Redis is back", async () => {
    const durable = await startRedis({ durable: true });
    const logger = createLogger({ level: "silent", instanceId: "svc" });
    const connections = createRedisConnections({ url: durable.url, logger });
    try {
      expect(await connections.waitUntilReady(5000)).toBe(true);
      const store = createRedisPresenceStore({
        redis: connections.command,
        keyPrefix: "o:",
        graceMs: 0,
        retentionMs: 60_000,
      });
      const changes: PresenceState[] = [];
      const saw = (userId: string, status: string) =>
        changes.some((c) => c.userId === userId && c.status === status);
      const registry = createInstanceRegistry({
        store: createRedisInstanceStore({ redis: connections.command, keyPrefix: "o:" }),
        instanceId: "svc",
        ttlMs: 900,
        logger,
      });
      const service = createPresenceService({
        store,
        broadcaster: { changed: (state) => changes.push(state) },
        registry,
        logger,
      });
      await registry.start();
      service.connect("s1", "pat");
      await eventually(() => saw("pat", "online"));

      await durable.stop();
      service.disconnect("s1");
      service.connect("s2", "quin");
      await sleep(200);
      expect(saw("pat", "offline") || saw("quin", "online")).toBe(false);
      await durable.start();

      await eventually(() => saw("pat", "offline") && saw("quin", "online"), 8000);
      expect(await store.get(["pat", "quin"], Date.now())).toEqual([
        expect.objectContaining({ status: "offline", devices: 0 }),
        expect.objectContaining({ status: "online", devices: 1 }),
      ]);
      await registry.stop();
      await service.stop();
      expect(await store.get(["quin"], Date.now())).toEqual([expect.objectContaining({ status: "offline" })]);
    } finally {
      await connections.close();
      await durable.destroy();
    }
  });
});
