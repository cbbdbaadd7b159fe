import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { GapEvent } from "../../packages/client/src/index.js";
import type { Message } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, eventually } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { bobIn, closeSdkClients, cutOff, Gate, recordSdk, sdkClient } from "./support.js";

const ROOM = "team:core";
const NO_SEND_LIMIT = { RATE_CHAT_SEND_PER_SEC: "100000", RATE_CHAT_SEND_BURST: "100000" };

/** Seqs 1..n of one epoch, in order: what a client must have been handed. */
function expectContiguous(messages: readonly Message[], from = 1): void {
  expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: messages.length }, (_, i) => from + i));
  expect(new Set(messages.map((m) => m.epoch)).size).toBe(1);
}

/** Alice's SDK client with what it emits recorded. */
function aliceOn(app: TestApp, gate?: Gate) {
  const alice = sdkClient(app.url, "alice", gate ? { gate } : {});
  return {
    alice,
    received: recordSdk(alice, "message"),
    rejoins: recordSdk(alice, "rejoin"),
    gaps: recordSdk(alice, "gap"),
  };
}

describe("client SDK delivery by sequence", () => {
  const redisServers: RedisServer[] = [];
  const apps: TestApp[] = [];

  afterEach(async () => {
    closeSdkClients();
    closeAllClients();
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await Promise.all(redisServers.splice(0).map((redis) => redis.destroy()));
  });

  async function start(env: Record<string, string> = {}, count = 1) {
    const redis = await startRedis();
    redisServers.push(redis);
    const prefix = `q${randomBytes(4).toString("hex")}:`;
    const started: TestApp[] = [];
    for (let i = 0; i < count; i++) {
      const app = await startApp({
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: prefix,
        ...NO_SEND_LIMIT,
        ...env,
      });
      apps.push(app);
      started.push(app);
    }
    return { redis, apps: started };
  }

  it("rejoins from its last seq and hands every missed message once, in seq order, over several answers", async () => {
    const {
      apps: [app],
    } = await start();
    if (!app) throw new Error("no app");
    const gate = new Gate();
    const { alice, received, rejoins, gaps } = aliceOn(app, gate);
    const joined = await alice.chat.join(ROOM);
    expect(joined).toMatchObject({ seq: 0, live: true, epoch: expect.any(String) });
    const { say } = await bobIn(app, ROOM);
    for (const text of ["m1", "m2", "m3"]) await say(text);
    await eventually(() => received.length === 3);

    await cutOff(app, gate);
    for (let i = 0; i < 450; i++) await say(`n${i}`);
    gate.open();
    await eventually(() => rejoins.length === 1, 15_000);
    expect(rejoins[0]).toMatchObject({ roomId: ROOM, recovered: true });
    expect(rejoins[0]?.messages).toHaveLength(450);
    await say("live again");
    await eventually(() => received.at(-1)?.text === "live again");
    expectContiguous(received);
    expect(received).toHaveLength(454);
    expect(gaps).toEqual([]);
  });

  it("receives every message in order while its instance's subscription is interrupted, without reconnecting", async () => {
    const { redis, apps: pair } = await start({}, 2);
    const [a, b] = pair;
    if (!a || !b) throw new Error("no apps");
    const alice = sdkClient(a.url, "alice");
    const bob = sdkClient(b.url, "bob");
    await alice.chat.join(ROOM);
    await bob.chat.join(ROOM);
    const bobGot = recordSdk(bob, "message");
    const statuses = recordSdk(bob, "status");
    const gaps = recordSdk(bob, "gap");

    const sent: Message[] = [];
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        sent.push(await alice.chat.send(ROOM, `m${sent.length}`));
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await send(3);
    const admin = redis.client();
    await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    await admin.quit();
    await send(40);
    await eventually(() => bobGot.length >= sent.length, 10_000);
    // In seq order as handed, each once: no sorting needed.
    expect(bobGot.map((m) => m.id)).toEqual(sent.map((m) => m.id));
    expectContiguous(bobGot);
    expect(statuses.filter((s) => s.status === "reconnecting")).toEqual([]);
    expect(gaps).toEqual([]);
  });

  it("reports a trimmed gap, then the newest page, when its position is older than the retained history", async () => {
    const {
      apps: [app],
    } = await start({ CHAT_HISTORY_LIMIT: "10" });
    if (!app) throw new Error("no app");
    const gate = new Gate();
    const { alice, received, rejoins, gaps } = aliceOn(app, gate);
    await alice.chat.join(ROOM);
    const { say } = await bobIn(app, ROOM);
    const first = await say("first");
    await eventually(() => received.length === 1);

    await cutOff(app, gate);
    for (let i = 0; i < 230; i++) await say(`n${i}`);
    gate.open();
    await eventually(() => rejoins.length === 1, 10_000);
    expect(gaps).toEqual<GapEvent[]>([
      { roomId: ROOM, epoch: first.epoch as string, reason: "trimmed", fromSeq: 2 },
    ]);
    expect(rejoins[0]?.recovered).toBe(false);
    const page = rejoins[0]?.messages ?? [];
    expect(page.at(-1)?.text).toBe("n229");
    // After the gap: the page, contiguous up to the newest message.
    expectContiguous(received.slice(1), page[0]?.seq);
  });

  it("reports an epoch gap when Redis lost the room, and goes on in the new epoch", async () => {
    const {
      redis,
      apps: [app],
    } = await start();
    if (!app) throw new Error("no app");
    const { alice, received, rejoins, gaps } = aliceOn(app);
    await alice.chat.join(ROOM);
    const { say } = await bobIn(app, ROOM);
    const before = await say("before");
    await eventually(() => received.length === 1);

    // A restart without persistence: everything Redis held is gone.
    await redis.stop();
    await redis.start();
    let after: Message | undefined;
    await eventually(async () => {
      after = await say("after").catch(() => undefined);
      return after !== undefined;
    }, 15_000);
    expect(after?.epoch).not.toBe(before.epoch);
    await eventually(() => received.at(-1)?.text === "after", 10_000);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({ roomId: ROOM, reason: "epoch" });
    expect(gaps[0]?.epoch).not.toBe(before.epoch);
    expect(rejoins.at(-1)?.recovered).toBe(false);
    expect(received.at(-1)).toMatchObject({ seq: 1, epoch: gaps[0]?.epoch });
  });
});
