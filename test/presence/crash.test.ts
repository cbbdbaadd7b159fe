import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { PresenceState } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { ChildServer } from "../helpers/child-server.js";
import { closeAllClients, eventually, ok, record, sleep, type TestSocket } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { connectAs, GRACE, presenceEnv, TTL } from "./support.js";

const HEARTBEAT = TTL / 3;
/** The documented bound is TTL + one heartbeat; this leaves room for a loaded 2-core machine. */
const GENEROUS_BOUND = TTL * 2 + GRACE + 1500;

let redis: RedisServer;
const survivors: TestApp[] = [];
let victim: ChildServer | undefined;

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  closeAllClients();
  await victim?.kill();
  await Promise.all(survivors.splice(0).map((a) => a.close()));
});
afterAll(async () => {
  await redis.destroy();
});

describe("presence after an instance crash", () => {
  it("takes a SIGKILLed instance's users offline on the survivors' subscribers, once, within the staleness bound", async () => {
    const env = presenceEnv(redis.url, `c${randomBytes(4).toString("hex")}:`);
    victim = await new ChildServer(env).start();
    survivors.push(...(await Promise.all([startApp(env), startApp(env)])));
    const [a, b] = survivors as [TestApp, TestApp];

    await connectAs(victim, "ivan");
    await connectAs(victim, "jane");
    await connectAs(a, "jane");

    const watchers = await Promise.all(
      [a, b].map(async (app) => {
        const socket = await connectAs(app, `watcher-${app.app.instanceId}`);
        const seen = record(socket, "presence:changed");
        const arrivals: number[] = [];
        socket.on("presence:changed", () => arrivals.push(Date.now()));
        const snapshot = await ok(socket, "presence:subscribe", { userIds: ["ivan", "jane"] });
        return { socket, seen, arrivals, snapshot };
      }),
    );
    for (const w of watchers) {
      expect(w.snapshot).toEqual([
        expect.objectContaining({ userId: "ivan", status: "online", devices: 1 }),
        expect.objectContaining({ userId: "jane", status: "online", devices: 2 }),
      ]);
    }

    const killedAt = Date.now();
    await victim.signal("SIGKILL");
    await eventually(() => watchers.every((w) => w.seen.length >= 1), GENEROUS_BOUND);
    const latencies = watchers.map((w) => (w.arrivals[0] as number) - killedAt);
    console.info(
      `presence crash detection: offline after ${latencies.join(" / ")} ms (TTL ${TTL}, heartbeat ${HEARTBEAT}, grace ${GRACE})`,
    );

    for (const w of watchers) {
      const [offline] = w.seen as [PresenceState];
      expect(offline).toMatchObject({ userId: "ivan", status: "offline", devices: 0 });
      // lastSeen is when the connection was last known alive (its connect or the dead
      // instance's last heartbeat), not when the crash was detected.
      expect(offline.lastSeen).toBeLessThanOrEqual(killedAt);
      expect(offline.lastSeen).toBeGreaterThan(killedAt - TTL);
    }

    await sleep(HEARTBEAT * 2);
    for (const w of watchers) expect(w.seen).toHaveLength(1);
    const [jane] = (await ok(watchers[0]?.socket as TestSocket, "presence:query", {
      userIds: ["jane"],
    })) as [PresenceState];
    expect(jane).toMatchObject({ status: "online", devices: 1 });
  });
});
