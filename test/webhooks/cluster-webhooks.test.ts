import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok } from "../helpers/client.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { tokenFor } from "../helpers/tokens.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";

const KEY = "cluster-webhook-key-0123456789";

/** On a Cluster the stores add the outbox entry right after their script (another slot). */
describe("webhooks over a Redis Cluster", () => {
  let cluster: RedisCluster;
  let receiver: WebhookReceiver;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    [cluster, receiver] = await Promise.all([new RedisCluster().start(), new WebhookReceiver().start()]);
    const env = {
      REDIS_MODE: "cluster",
      REDIS_URL: `redis://${cluster.seeds.split(",")[0]}`,
      REDIS_CLUSTER_NODES: cluster.seeds,
      REDIS_KEY_PREFIX: `wc${Date.now()}:`,
      INTERNAL_API_KEY: KEY,
      PRESENCE_TTL_MS: "1500",
      PRESENCE_GRACE_MS: "300",
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: receiver.secret,
      WEBHOOK_POLL_MS: "50",
      WEBHOOK_RETRY_BASE_MS: "50",
      WEBHOOK_RETRY_MAX_MS: "200",
    };
    apps.push(await startApp({ ...env, INSTANCE_ID: "A" }), await startApp({ ...env, INSTANCE_ID: "B" }));
  }, 60_000);
  afterAll(async () => {
    closeAllClients();
    await Promise.all(apps.map((a) => a.close()));
    await receiver?.close();
    await cluster?.destroy();
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
