import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { ChildServer } from "../helpers/child-server.js";
import { closeAllClients, connected, eventually, ok, sleep } from "../helpers/client.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { tokenFor } from "../helpers/tokens.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";

const KEY = "cluster-webhook-key-0123456789";

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await new RedisCluster().start();
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

const clusterEnv = (receiver: WebhookReceiver, prefix: string) => ({
  REDIS_MODE: "cluster",
  REDIS_URL: `redis://${cluster.seeds.split(",")[0]}`,
  REDIS_CLUSTER_NODES: cluster.seeds,
  REDIS_KEY_PREFIX: prefix,
  INTERNAL_API_KEY: KEY,
  PRESENCE_TTL_MS: "1500",
  PRESENCE_GRACE_MS: "300",
  WEBHOOK_URL: receiver.url,
  WEBHOOK_SECRET: receiver.secret,
  WEBHOOK_POLL_MS: "50",
  WEBHOOK_RETRY_BASE_MS: "50",
  WEBHOOK_RETRY_MAX_MS: "200",
});

/**
 * On a Cluster each store's script writes its event into a stream of its own slot, listed
 * right after for the forwarder that moves it to the outbox.
 */
describe("webhooks over a Redis Cluster", () => {
  let receiver: WebhookReceiver;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    const env = clusterEnv(receiver, `wc${Date.now()}:`);
    apps.push(await startApp({ ...env, INSTANCE_ID: "A" }), await startApp({ ...env, INSTANCE_ID: "B" }));
  }, 60_000);
  afterAll(async () => {
    closeAllClients();
    await Promise.all(apps.map((a) => a.close()));
    await receiver?.close();
  });

  it("delivers every kind of event once, from whichever instance", async () => {
    const [a, b] = apps as [TestApp, TestApp];
    const socket = await connected(a.url, await tokenFor("cleo", { rooms: ["team:*"] }));
    await ok(socket, "chat:join", { roomId: "team:cluster" });
    for (let i = 1; i <= 5; i++) await ok(socket, "chat:send", { roomId: "team:cluster", text: `c${i}` });
    const res = await fetch(`${b.url}/internal/notifications`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ userIds: ["cleo", "absent"], type: "t", title: "Hi" }),
    });
    expect(res.status).toBe(202);
    socket.disconnect();

    await eventually(() => receiver.of("user.offline").length === 1, 10_000);
    await eventually(() => receiver.of("room.vacated").length === 1);
    const types = receiver.unique().map((d) => d.type);
    expect(types.filter((t) => t === "chat.message.created")).toHaveLength(5);
    expect(types.filter((t) => t !== "chat.message.created").sort()).toEqual([
      "notification.undelivered",
      "room.occupied",
      "room.vacated",
      "user.offline",
      "user.online",
    ]);
    expect(receiver.of("notification.undelivered")[0]?.data.userId).toBe("absent");
    expect(receiver.rejected).toBe(0);
  });
});

describe("webhooks over a Redis Cluster when an instance dies after a script, before listing its event", () => {
  let receiver: WebhookReceiver;
  let survivor: TestApp | undefined;
  let victim: ChildServer | undefined;
  let redis: Cluster | undefined;

  afterAll(async () => {
    await victim?.kill();
    await survivor?.close();
    redis?.disconnect();
    await receiver?.close();
  });

  it("delivers the event once, found by the scan when the dead instance is swept", async () => {
    receiver = await new WebhookReceiver().start();
    const prefix = `wd${Date.now()}:`;
    // The periodic scan is out of reach: only sweeping the dead instance can find the event.
    const env = { ...clusterEnv(receiver, prefix), WEBHOOK_RECOVERY_SCAN_MS: "3600000" };
    victim = await new ChildServer({ ...env, INSTANCE_ID: "victim" }).start();
    survivor = await startApp({ ...env, INSTANCE_ID: "survivor" });
    redis = new Cluster(
      cluster.seeds.split(",").map((s) => ({ host: "127.0.0.1", port: Number(s.split(":")[1]) })),
    );
    redis.on("error", () => {});

    // The victim's listing fails (the index is not a set): its notification script writes
    // the event into the user's own stream, and nothing lists it, as if the victim had died
    // between the two. The notification is still accepted.
    const pending = `${prefix}{webhooks}:pending`;
    const stream = `${prefix}{nobody}:webhooks`;
    await redis.set(pending, "not a set");
    const res = await fetch(`${victim.url}/internal/notifications`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ userIds: ["nobody"], type: "t", title: "Left behind" }),
    });
    expect(res.status).toBe(202);
    expect(await redis.xlen(stream)).toBe(1);

    await victim.signal("SIGKILL");
    await redis.del(pending);
    await sleep(500);
    expect(receiver.of("notification.undelivered")).toEqual([]);

    await eventually(() => receiver.of("notification.undelivered").length === 1, 15_000);
    const [event] = receiver.of("notification.undelivered");
    expect(event?.data).toMatchObject({
      userId: "nobody",
      notification: { type: "t", title: "Left behind" },
    });
    await sleep(1000);
    expect(receiver.of("notification.undelivered")).toHaveLength(1);
    expect(await redis.exists(stream)).toBe(0);
  }, 30_000);
});

describe("webhooks over a Redis Cluster, the periodic recovery scan", () => {
  let receiver: WebhookReceiver;
  let app: TestApp | undefined;
  let redis: Cluster | undefined;

  afterAll(async () => {
    await app?.close();
    redis?.disconnect();
    await receiver?.close();
  });

  it("delivers an event left unlisted in its slot's stream every WEBHOOK_RECOVERY_SCAN_MS, with no instance dead", async () => {
    receiver = await new WebhookReceiver().start();
    const prefix = `ws${Date.now()}:`;
    app = await startApp({ ...clusterEnv(receiver, prefix), WEBHOOK_RECOVERY_SCAN_MS: "1000" });
    redis = new Cluster(
      cluster.seeds.split(",").map((s) => ({ host: "127.0.0.1", port: Number(s.split(":")[1]) })),
    );
    redis.on("error", () => {});
    const data = { roomId: "team:scan", userId: "una" };
    await redis.xadd(`${prefix}{team:scan}:webhooks`, "*", "t", "room.occupied", "d", JSON.stringify(data));

    await eventually(() => receiver.of("room.occupied").length === 1, 10_000);
    expect(receiver.of("room.occupied")[0]?.data).toEqual(data);
    await sleep(1500);
    expect(receiver.of("room.occupied")).toHaveLength(1);
  }, 30_000);
});
