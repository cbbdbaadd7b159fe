import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok, sleep } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";
import { webhookEnv } from "./support.js";

let redis: RedisServer;
let receiver: WebhookReceiver;
const apps: TestApp[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  closeAllClients();
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await receiver?.close();
});
afterAll(async () => {
  await redis.destroy();
});

const member = async (app: TestApp, userId: string) => {
  const socket = await connected(app.url, await tokenFor(userId, { rooms: ["team:*"] }));
  await ok(socket, "chat:join", { roomId: "team:room" });
  return socket;
};

describe.each([
  ["Redis, two instances", true],
  ["memory", false],
])("room and notification webhooks (%s)", (_name, withRedis) => {
  const start = async () => {
    receiver = await new WebhookReceiver().start();
    const env = webhookEnv(redis.url, `wr${randomBytes(4).toString("hex")}:`, receiver, {
      WEBHOOK_EVENTS: "room.occupied,room.vacated,notification.undelivered",
      ...(withRedis ? {} : { REDIS_URL: "" }),
    });
    apps.push(...(await Promise.all(withRedis ? [startApp(env), startApp(env)] : [startApp(env)])));
    return [apps[0] as TestApp, apps.at(-1) as TestApp] as const;
  };

  it("sends room.occupied for the first member in and room.vacated for the last one out, once each", async () => {
    const [a, b] = await start();
    const first = await member(a, "ann");
    await eventually(() => receiver.of("room.occupied").length === 1);
    expect(receiver.of("room.occupied")[0]?.data).toEqual({ roomId: "team:room", userId: "ann" });

    const second = await member(b, "ben");
    first.disconnect();
    await sleep(500);
    expect(receiver.of("room.occupied")).toHaveLength(1);
    expect(receiver.of("room.vacated")).toEqual([]);

    second.disconnect();
    await eventually(() => receiver.of("room.vacated").length === 1);
    expect(receiver.of("room.vacated")[0]?.data).toEqual({ roomId: "team:room", userId: "ben" });
    await sleep(300);
    expect(receiver.unique()).toHaveLength(2);
  });

  it("sends notification.undelivered for the recipients with no socket online only", async () => {
    const [a, b] = await start();
    await connected(b.url, await tokenFor("online-user"));
    const res = await fetch(`${a.url}/internal/notifications`, {
      method: "POST",
      headers: { authorization: "Bearer webhook-test-key-0123456789", "content-type": "application/json" },
      body: JSON.stringify({
        userIds: ["online-user", "away-user"],
        type: "invite",
        title: "Join us",
        data: { n: 1 },
      }),
    });
    expect(res.status).toBe(202);
    await eventually(() => receiver.of("notification.undelivered").length === 1);
    await sleep(300);
    const [event] = receiver.of("notification.undelivered");
    expect(event?.data).toEqual({
      userId: "away-user",
      notification: {
        id: expect.stringMatching(/^\d+-\d+$/),
        type: "invite",
        title: "Join us",
        data: { n: 1 },
        createdAt: expect.any(Number),
      },
    });
    expect(receiver.of("notification.undelivered")).toHaveLength(1);
  });
});
