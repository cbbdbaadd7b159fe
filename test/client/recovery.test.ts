import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { compareMessageIds } from "../../packages/client/src/index.js";
import type { AppSocket } from "../../src/infra/event-router.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, eventually, ok, record, sleep } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { bobIn, closeSdkClients, cutOff, Gate, recordSdk, sdkClient } from "./support.js";

const ROOM = "team:core";
const NO_SEND_LIMIT = { RATE_CHAT_SEND_PER_SEC: "100000", RATE_CHAT_SEND_BURST: "100000" };

describe.each([
  { backend: "in memory", useRedis: false },
  { backend: "over Redis", useRedis: true },
])("client SDK recovery ($backend)", ({ useRedis }) => {
  let redis: RedisServer | undefined;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    if (useRedis) redis = await startRedis();
  });
  afterEach(async () => {
    closeSdkClients();
    closeAllClients();
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  afterAll(async () => {
    await redis?.destroy();
  });

  async function start(env: Record<string, string> = {}): Promise<TestApp> {
    const app = await startApp({
      ...(redis ? { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `c${randomBytes(4).toString("hex")}:` } : {}),
      ...env,
    });
    apps.push(app);
    return app;
  }

  it("recovers a forced disconnect mid-conversation with no gap and no duplicate", async () => {
    const app = await start();
    const gate = new Gate();
    const alice = sdkClient(app.url, "alice", { gate });
    const received = recordSdk(alice, "message");
    const rejoins = recordSdk(alice, "rejoin");
    await alice.chat.join(ROOM);
    const { say } = await bobIn(app, ROOM);

    for (const text of ["m1", "m2", "m3"]) await say(text);
    await eventually(() => received.length === 3);
    await cutOff(app, gate);
    expect(alice.status).toBe("reconnecting");
    for (const text of ["m4", "m5", "m6"]) await say(text);
    expect(received).toHaveLength(3);

    gate.open();
    await eventually(() => rejoins.length === 1);
    expect(rejoins[0]).toMatchObject({ roomId: ROOM, recovered: true });
    expect(rejoins[0]?.messages.map((m) => m.text)).toEqual(["m4", "m5", "m6"]);
    await say("m7");
    await eventually(() => received.some((m) => m.text === "m7"));
    expect(received.map((m) => m.text)).toEqual(["m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
    expect(new Set(received.map((m) => m.id)).size).toBe(7);
  });

  it("sends an unacknowledged message again after reconnecting, and the server stores it once", async () => {
    const app = await start();
    // Fault injection on the real server: alice's first chat:send is handled (stored,
    // broadcast) but its ack is never sent, like an answer lost with the connection.
    let aliceSocket: AppSocket | undefined;
    app.app.io.on("connection", (socket) => {
      if (socket.data.user.id !== "alice" || aliceSocket) return;
      aliceSocket = socket;
      const internals = socket as unknown as { onevent(packet: { data?: unknown[]; id?: number }): void };
      const onevent = internals.onevent.bind(socket);
      let dropped = false;
      internals.onevent = (packet) => {
        if (!dropped && packet.data?.[0] === "chat:send") {
          dropped = true;
          packet.id = undefined;
        }
        onevent(packet);
      };
    });
    const alice = sdkClient(app.url, "alice");
    const aliceSaw = recordSdk(alice, "message");
    await alice.chat.join(ROOM);
    const { bob, say } = await bobIn(app, ROOM);
    const bobSaw = record(bob, "chat:message");

    const sending = alice.chat.send(ROOM, "only once");
    await eventually(() => bobSaw.length === 1);
    aliceSocket?.disconnect(true);
    const stored = await sending;
    expect(stored.id).toBe(bobSaw[0]?.id);
    expect(stored.clientMsgId).toBe(bobSaw[0]?.clientMsgId);

    await say("after");
    await eventually(() => aliceSaw.some((m) => m.text === "after"));
    expect(bobSaw.map((m) => m.text)).toEqual(["only once", "after"]);
    expect(aliceSaw.map((m) => m.text)).toEqual(["only once", "after"]);
    const history = await ok(bob, "chat:history", { roomId: ROOM });
    expect(history.messages.map((m) => m.text)).toEqual(["only once", "after"]);
  });

  it("queues messages sent while offline and delivers each once, in order, after reconnecting", async () => {
    const app = await start();
    const gate = new Gate();
    const alice = sdkClient(app.url, "alice", { gate });
    await alice.chat.join(ROOM);
    const { bob } = await bobIn(app, ROOM);
    const bobSaw = record(bob, "chat:message");

    await cutOff(app, gate);
    const sends = ["x1", "x2", "x3"].map((text) => alice.chat.send(ROOM, text));
    await sleep(100);
    expect(bobSaw).toEqual([]);
    gate.open();
    const stored = await Promise.all(sends);
    expect(stored.map((m) => m.text)).toEqual(["x1", "x2", "x3"]);
    expect(compareMessageIds(stored[0]?.id as string, stored[1]?.id as string)).toBeLessThan(0);
    expect(compareMessageIds(stored[1]?.id as string, stored[2]?.id as string)).toBeLessThan(0);
    await eventually(() => bobSaw.length === 3);
    await sleep(100);
    expect(bobSaw.map((m) => m.text)).toEqual(["x1", "x2", "x3"]);
  });

  it("catches up on more missed messages than one join answer holds", async () => {
    const app = await start(NO_SEND_LIMIT);
    const gate = new Gate();
    const alice = sdkClient(app.url, "alice", { gate });
    const received = recordSdk(alice, "message");
    const rejoins = recordSdk(alice, "rejoin");
    await alice.chat.join(ROOM);
    const { say } = await bobIn(app, ROOM);
    await say("before");
    await eventually(() => received.length === 1);

    await cutOff(app, gate);
    const missed = Array.from({ length: 230 }, (_, i) => `n${i}`);
    for (const text of missed) await say(text);
    gate.open();
    await eventually(() => rejoins.length === 1, 10_000);
    expect(rejoins[0]?.recovered).toBe(true);
    expect(received.map((m) => m.text)).toEqual(["before", ...missed]);
  });

  it("reports recovered: false with the newest page when its position is gone from the history", async () => {
    const app = await start({ ...NO_SEND_LIMIT, CHAT_HISTORY_LIMIT: "10" });
    const gate = new Gate();
    const alice = sdkClient(app.url, "alice", { gate });
    const received = recordSdk(alice, "message");
    const rejoins = recordSdk(alice, "rejoin");
    await alice.chat.join(ROOM);
    const { say } = await bobIn(app, ROOM);
    await say("first");
    await eventually(() => received.length === 1);

    await cutOff(app, gate);
    for (let i = 0; i < 230; i++) await say(`n${i}`);
    gate.open();
    await eventually(() => rejoins.length === 1, 10_000);
    const rejoin = rejoins[0];
    expect(rejoin?.recovered).toBe(false);
    const texts = rejoin?.messages.map((m) => m.text) ?? [];
    expect(texts.length).toBeGreaterThan(0);
    expect(texts.at(-1)).toBe("n229");
    expect(texts).not.toContain("first");
    // What it did deliver is in order, each once, ending with the newest.
    expect(received.at(-1)?.text).toBe("n229");
    expect(new Set(received.map((m) => m.id)).size).toBe(received.length);
    const ids = received.map((m) => m.id);
    expect([...ids].sort(compareMessageIds)).toEqual(ids);
  });
});
