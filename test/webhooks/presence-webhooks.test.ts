import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { ChildServer } from "../helpers/child-server.js";
import { closeAllClients, eventually, sleep } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";
import { connectAs, TTL } from "../presence/support.js";
import { GRACE, webhookEnv } from "./support.js";

/** The documented bound is TTL + one heartbeat; room for a loaded 2-core machine. */
const CRASH_BOUND = TTL * 2 + GRACE + 3000;

let redis: RedisServer;
let receiver: WebhookReceiver;
const apps: TestApp[] = [];
let victim: ChildServer | undefined;

const env = () => webhookEnv(redis.url, `wp${randomBytes(4).toString("hex")}:`, receiver);
const ofUser = (type: string, userId: string) =>
  receiver.unique(type).filter((d) => d.data.userId === userId);

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  closeAllClients();
  await victim?.kill();
  victim = undefined;
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await receiver?.close();
});
afterAll(async () => {
  await redis.destroy();
});

describe("user.online and user.offline webhooks", () => {
  it.each([2, 3])(
    "sends exactly one user.offline when the last device leaves, none while another is connected elsewhere (%i instances)",
    async (count) => {
      receiver = await new WebhookReceiver().start();
      const e = env();
      apps.push(...(await Promise.all(Array.from({ length: count }, () => startApp(e)))));

      // One device on each instance.
      const devices = await Promise.all(apps.map((app) => connectAs(app, "alice")));
      await eventually(() => ofUser("user.online", "alice").length === 1);

      for (const device of devices.slice(0, -1)) device.disconnect();
      await sleep(GRACE + 800);
      expect(ofUser("user.offline", "alice")).toEqual([]);

      const left = Date.now();
      devices.at(-1)?.disconnect();
      await eventually(() => ofUser("user.offline", "alice").length === 1, GRACE + 5000);
      const [offline] = ofUser("user.offline", "alice");
      expect(offline?.data.lastSeen).toBeLessThanOrEqual(Date.now());
      expect(offline?.at).toBeGreaterThanOrEqual(left + GRACE - 50);

      await sleep(GRACE + 500);
      expect(ofUser("user.offline", "alice")).toHaveLength(1);
      expect(ofUser("user.online", "alice")).toHaveLength(1);
      expect(receiver.rejected).toBe(0);
    },
  );

  it.each([2, 3])(
    "sends nothing when a user moves to another instance within the grace (%i instances)",
    async (count) => {
      receiver = await new WebhookReceiver().start();
      const e = env();
      apps.push(...(await Promise.all(Array.from({ length: count }, () => startApp(e)))));

      // From each instance to the next, every move within the grace.
      let device = await connectAs(apps[0] as TestApp, "bob");
      await eventually(() => ofUser("user.online", "bob").length === 1);
      for (const app of apps.slice(1)) {
        device.disconnect();
        await sleep(GRACE / 3);
        device = await connectAs(app, "bob");
      }

      await sleep(GRACE * 2 + 800);
      expect(ofUser("user.offline", "bob")).toEqual([]);
      expect(ofUser("user.online", "bob")).toHaveLength(1);
    },
  );

  it("sends one user.offline, among three instances, for the users of an instance that was SIGKILLed", async () => {
    receiver = await new WebhookReceiver().start();
    const e = env();
    victim = await new ChildServer(e).start();
    apps.push(...(await Promise.all([startApp(e), startApp(e)])));
    const [a] = apps as [TestApp, TestApp];

    await connectAs(victim, "ivan");
    await connectAs(victim, "jane");
    await connectAs(a, "jane");
    await eventually(
      () => ofUser("user.online", "ivan").length === 1 && ofUser("user.online", "jane").length === 1,
    );

    const killedAt = Date.now();
    await victim.signal("SIGKILL");
    await eventually(() => ofUser("user.offline", "ivan").length === 1, CRASH_BOUND);
    const [offline] = ofUser("user.offline", "ivan");
    console.info(`webhook user.offline after a SIGKILL: ${(offline?.at ?? 0) - killedAt} ms (TTL ${TTL})`);
    expect(offline?.data.lastSeen).toBeLessThanOrEqual(killedAt);

    await sleep(TTL);
    expect(ofUser("user.offline", "ivan")).toHaveLength(1);
    expect(ofUser("user.offline", "jane")).toEqual([]);
  });
});
