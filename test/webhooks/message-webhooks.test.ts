import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { ChildServer } from "../helpers/child-server.js";
import { closeAllClients, connected, eventually, ok, sleep, type TestSocket } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";
import { CLAIM_IDLE, webhookEnv } from "./support.js";

let redis: RedisServer;
let receiver: WebhookReceiver;
const apps: TestApp[] = [];
let victim: ChildServer | undefined;

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

async function sender(server: { url: string }, userId: string): Promise<TestSocket> {
  const socket = await connected(server.url, await tokenFor(userId, { rooms: ["team:*"] }));
  await ok(socket, "chat:join", { roomId: "team:hooks" });
  return socket;
}

/** Sends `count` messages and answers their seqs. */
async function send(socket: TestSocket, count: number, tag: string): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < count; i++) {
    const sent = await ok(socket, "chat:send", { roomId: "team:hooks", text: `${tag} ${i}` });
    seqs.push(sent.seq);
  }
  return seqs;
}

/** The outbox entries held by the consumer whose name starts with `consumer`. */
async function heldBy(app: TestApp, prefix: string, consumer: string): Promise<string[]> {
  const redisClient = app.app.redis?.command;
  const key = `${prefix}{webhooks}:outbox`;
  const pending = (await redisClient?.xpending(key, "webhooks", "-", "+", 100)) as [string, string][];
  return pending.filter(([, owner]) => owner.startsWith(consumer)).map(([id]) => id);
}

const createdSeqs = () =>
  receiver
    .unique("chat.message.created")
    .map((d) => d.data.seq as number)
    .sort((x, y) => x - y);

describe("chat.message.created webhooks", () => {
  it("delivers every stored message at least once and once per webhook-id while the receiver answers 500 for a while", async () => {
    receiver = await new WebhookReceiver().start();
    const env = webhookEnv(redis.url, `wm${randomBytes(4).toString("hex")}:`, receiver, {
      WEBHOOK_EVENTS: "chat.message.created",
    });
    apps.push(...(await Promise.all([startApp(env), startApp(env), startApp(env)])));
    const sockets = await Promise.all(apps.map((app, i) => sender(app, `s${i}`)));

    receiver.status = 500;
    const seqs = (await Promise.all(sockets.map((s, i) => send(s, 10, `m${i}`)))).flat();
    await eventually(() => receiver.requests >= 60, 10_000);
    expect(receiver.accepted).toEqual([]);
    receiver.status = 200;

    await eventually(() => createdSeqs().length === seqs.length, 15_000);
    expect(createdSeqs()).toEqual(seqs.sort((x, y) => x - y));
    const first = receiver.unique("chat.message.created")[0];
    expect(first?.data).toMatchObject({ roomId: "team:hooks", text: expect.stringMatching(/^m\d \d$/) });
    expect(first?.data.messageId).toMatch(new RegExp(`^\\d+-${first?.data.seq}$`));
    expect(receiver.rejected).toBe(0);

    // The metrics saw both outcomes, the attempts' latency, and an outbox emptied again. The
    // receiver records a request when it arrives, an instance counts it once the answer is back:
    // the counters catch up a moment later.
    const scrape = () => Promise.all(apps.map(async (app) => (await fetch(`${app.url}/metrics`)).text()));
    const total = (scraped: string[], outcome: string) =>
      scraped
        .map((text) =>
          Number(
            new RegExp(
              `^rt_webhook_deliveries_total\\{event="chat.message.created",outcome="${outcome}"\\} (\\d+)`,
              "m",
            ).exec(text)?.[1] ?? 0,
          ),
        )
        .reduce((a, b) => a + b, 0);
    let scraped: string[] = [];
    await eventually(async () => {
      scraped = await scrape();
      return total(scraped, "delivered") >= seqs.length;
    });
    expect(total(scraped, "delivered")).toBeGreaterThanOrEqual(seqs.length);
    expect(total(scraped, "failed")).toBeGreaterThanOrEqual(seqs.length);
    expect(scraped[0]).toMatch(
      /^rt_webhook_delivery_duration_seconds_count\{event="chat.message.created"\} [1-9]/m,
    );
    await eventually(async () =>
      /^rt_webhook_outbox_undelivered 0$/m.test(await (await fetch(`${apps[0]?.url}/metrics`)).text()),
    );
  });

  it("delivers the entries a SIGKILLed instance held, through another instance claiming them", async () => {
    receiver = await new WebhookReceiver().start();
    // Each instance holds at most 4 entries: all three hold some when the victim dies.
    const env = webhookEnv(redis.url, `wk${randomBytes(4).toString("hex")}:`, receiver, {
      WEBHOOK_EVENTS: "chat.message.created",
      WEBHOOK_CONCURRENCY: "4",
    });
    victim = await new ChildServer(env).start();
    apps.push(...(await Promise.all([startApp(env), startApp(env)])));
    const sockets = await Promise.all([victim, ...apps].map((server, i) => sender(server, `k${i}`)));

    // Every request waits: each instance holds the entries it took, none acknowledged.
    receiver.hold();
    const seqs = (await Promise.all(sockets.map((s, i) => send(s, 8, `k${i}`)))).flat();
    await eventually(() => receiver.waiting >= 12, 10_000);
    // What the victim holds is refused: it is delivered only if another instance claims it.
    const held = await heldBy(apps[0] as TestApp, env.REDIS_KEY_PREFIX as string, `${victim.pid}-`);
    expect(held.length).toBeGreaterThan(0);
    for (const id of held) receiver.refuseOnce.add(`evt_${id}`);
    await victim.signal("SIGKILL");
    const killedAt = Date.now();
    receiver.release();

    await eventually(() => createdSeqs().length === seqs.length, CLAIM_IDLE * 4 + 10_000);
    console.info(`webhooks: every message delivered ${Date.now() - killedAt} ms after the SIGKILL`);
    expect(createdSeqs()).toEqual(seqs.sort((x, y) => x - y));
    await sleep(CLAIM_IDLE * 2);
    expect(createdSeqs()).toHaveLength(seqs.length);
  });
});
