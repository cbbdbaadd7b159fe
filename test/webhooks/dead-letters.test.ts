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

const KEY = "webhook-test-key-0123456789";

async function api(app: TestApp, method: string, path: string, key = KEY) {
  const res = await fetch(`${app.url}${path}`, { method, headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

interface Letter {
  id: string;
  webhookId: string;
  type: string;
  attempts: number;
  lastError: string;
  data: Record<string, unknown>;
}

describe.each([
  ["Redis", true],
  ["memory", false],
])("webhook dead letters (%s)", (_name, withRedis) => {
  it("keeps an event as a dead letter after its retry window, lists it, and redelivers it with its webhook-id", async () => {
    receiver = await new WebhookReceiver().start();
    const env = webhookEnv(redis.url, `wd${randomBytes(4).toString("hex")}:`, receiver, {
      WEBHOOK_EVENTS: "chat.message.created",
      WEBHOOK_RETRY_WINDOW_MS: "1000",
      ...(withRedis ? {} : { REDIS_URL: "" }),
    });
    apps.push(await startApp(env));
    const [app] = apps as [TestApp];

    receiver.status = 500;
    const socket = await connected(app.url, await tokenFor("dora", { rooms: ["team:*"] }));
    await ok(socket, "chat:join", { roomId: "team:dead" });
    const sent = await ok(socket, "chat:send", { roomId: "team:dead", text: "lost for a while" });

    let letters: Letter[] = [];
    await eventually(async () => {
      letters = (await api(app, "GET", "/internal/webhooks/dead-letters")).body.deadLetters as Letter[];
      return letters.length === 1;
    }, 10_000);
    const [letter] = letters as [Letter];
    expect(letter).toMatchObject({
      type: "chat.message.created",
      lastError: "HTTP 500",
      data: { roomId: "team:dead", seq: sent.seq, text: "lost for a while", userId: "dora" },
    });
    expect(letter.attempts).toBeGreaterThan(1);
    const tried = receiver.requests;
    await sleep(500);
    expect(receiver.requests).toBe(tried);

    receiver.status = 200;
    expect((await api(app, "POST", `/internal/webhooks/dead-letters/${letter.id}/redeliver`)).status).toBe(
      202,
    );
    await eventually(() => receiver.accepted.length === 1, 5000);
    expect(receiver.accepted[0]).toMatchObject({ webhookId: letter.webhookId, data: { seq: sent.seq } });
    expect((await api(app, "GET", "/internal/webhooks/dead-letters")).body.deadLetters).toEqual([]);

    const again = await api(app, "POST", `/internal/webhooks/dead-letters/${letter.id}/redeliver`);
    expect(again).toMatchObject({ status: 404, body: { error: { code: "NOT_FOUND" } } });
    const bad = await api(app, "POST", "/internal/webhooks/dead-letters/not-an-id/redeliver");
    expect(bad).toMatchObject({ status: 400, body: { error: { code: "INVALID_PAYLOAD" } } });
    expect((await api(app, "GET", "/internal/webhooks/dead-letters", "wrong-key")).status).toBe(401);
  });
});
