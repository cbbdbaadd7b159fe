import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { PresenceState } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { eventually, ok, record, sleep, type TestSocket } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { connectAs, GRACE, presenceEnv, TTL } from "./support.js";

const fixture = usePrivateRedis<TestApp>();

/** `count` instances over the suite's Redis, with a key prefix of their own. */
async function instances(count: number, env: Record<string, string> = {}): Promise<TestApp[]> {
  const prefix = `p${randomBytes(4).toString("hex")}:`;
  const started = await Promise.all(
    Array.from({ length: count }, () => startApp({ ...presenceEnv(fixture.redis.url, prefix), ...env })),
  );
  fixture.apps.push(...started);
  return started;
}

const as = connectAs;

/** A watcher subscribed to `userIds`, with every change it receives. */
async function watch(app: TestApp, userIds: string[]) {
  const socket = await as(app, `watcher-${randomBytes(3).toString("hex")}`);
  const seen = record(socket, "presence:changed");
  const snapshot = await ok(socket, "presence:subscribe", { userIds });
  return { socket, seen, snapshot };
}

const statusOf = async (socket: TestSocket, userId: string): Promise<PresenceState | undefined> =>
  (await ok(socket, "presence:query", { userIds: [userId] }))[0];

describe("presence across instances", () => {
  it("announces a user online to a subscriber on another instance, and offline once the grace after they leave is over", async () => {
    const [a, b] = (await instances(2)) as [TestApp, TestApp];
    const w = await watch(a, ["alice"]);
    expect(w.snapshot).toEqual([{ userId: "alice", status: "offline", lastSeen: 0, devices: 0 }]);

    const alice = await as(b, "alice");
    await eventually(() => w.seen.length === 1);
    expect(w.seen[0]).toMatchObject({ userId: "alice", status: "online", devices: 1 });

    const leftAt = Date.now();
    alice.disconnect();
    await eventually(() => w.seen.length === 2, 5000);
    const offlineAfter = Date.now() - leftAt;
    expect(w.seen[1]).toMatchObject({ userId: "alice", status: "offline", devices: 0 });
    expect(w.seen[1]?.lastSeen).toBeGreaterThanOrEqual(leftAt - 50);
    // The grace is a lower bound: the user was not announced offline before it ran out.
    expect(offlineAfter).toBeGreaterThanOrEqual(GRACE - 50);
    await sleep(300);
    expect(w.seen).toHaveLength(2);
  });

  it("keeps a user with a device left on another instance online, says nothing about the second device, and takes them offline once both are gone", async () => {
    const [a, b, c] = (await instances(3)) as [TestApp, TestApp, TestApp];
    const w = await watch(c, ["bob"]);
    const onA = await as(a, "bob");
    await eventually(() => w.seen.length === 1);
    const onB = await as(b, "bob");
    await eventually(async () => (await statusOf(w.socket, "bob"))?.devices === 2);

    onA.disconnect();
    await eventually(async () => (await statusOf(w.socket, "bob"))?.devices === 1);
    await sleep(GRACE + TTL / 3 + 200);
    expect(await statusOf(w.socket, "bob")).toMatchObject({ status: "online", devices: 1 });
    expect(w.seen).toHaveLength(1);

    onB.disconnect();
    await eventually(() => w.seen.length === 2, 5000);
    expect(w.seen.map((s) => s.status)).toEqual(["online", "offline"]);
    await sleep(300);
    expect(w.seen).toHaveLength(2);
  });

  it("makes no event when a user reloads inside the grace, even onto another instance", async () => {
    const [a, b] = (await instances(2)) as [TestApp, TestApp];
    const first = await as(a, "carl");
    const w = await watch(b, ["carl"]);
    expect(w.snapshot[0]).toMatchObject({ status: "online", devices: 1 });

    first.disconnect();
    await as(b, "carl");
    await sleep(GRACE + TTL / 3 + 300);
    expect(w.seen).toEqual([]);
    expect(await statusOf(w.socket, "carl")).toMatchObject({ status: "online", devices: 1 });
  });

  it("delivers a status or text change once to subscribers on every instance, and nothing for a re-set of the same value", async () => {
    const [a, b, c] = (await instances(3)) as [TestApp, TestApp, TestApp];
    const dora = await as(a, "dora");
    const doraPhone = await as(b, "dora");
    const watchers = await Promise.all([a, b, c].map((app) => watch(app, ["dora"])));

    const state = await ok(dora, "presence:set", { status: "away", text: "lunch" });
    expect(state).toMatchObject({ userId: "dora", status: "away", text: "lunch", devices: 2 });
    await eventually(() => watchers.every((w) => w.seen.length >= 1));

    await ok(dora, "presence:set", { status: "away", text: "lunch" });
    await sleep(300);
    for (const w of watchers) {
      expect(w.seen).toHaveLength(1);
      expect(w.seen[0]).toMatchObject({ status: "away", text: "lunch", devices: 2 });
    }

    // From the other device, on the other instance; no text clears the text.
    await ok(doraPhone, "presence:set", { status: "busy" });
    await eventually(() => watchers.every((w) => w.seen.length >= 2));
    await sleep(200);
    for (const w of watchers) {
      expect(w.seen).toHaveLength(2);
      expect(w.seen[1]).toEqual(expect.objectContaining({ status: "busy" }));
      expect(w.seen[1]?.text).toBeUndefined();
    }
  });

  it("applies a status set on one device to every device of the user", async () => {
    const [a, b] = (await instances(2)) as [TestApp, TestApp];
    await as(a, "fred");
    const phone = await as(b, "fred");
    await ok(phone, "presence:set", { status: "busy", text: "driving" });
    const w = await watch(a, ["fred"]);
    expect(w.snapshot).toEqual([
      expect.objectContaining({ userId: "fred", status: "busy", text: "driving", devices: 2 }),
    ]);
  });

  it("stops delivering changes after presence:unsubscribe", async () => {
    const [a, b] = (await instances(2)) as [TestApp, TestApp];
    const w = await watch(a, ["gina", "hugo"]);
    expect(await ok(w.socket, "presence:unsubscribe", { userIds: ["gina", "gina"] })).toEqual({
      userIds: ["gina"],
    });
    await as(b, "gina");
    await as(b, "hugo");
    await eventually(() => w.seen.length === 1);
    await sleep(300);
    expect(w.seen.map((s) => s.userId)).toEqual(["hugo"]);
  });

  it("removes a stopping instance's connections at once and lets the survivors take its users offline after the grace", async () => {
    // A TTL far above the test's waits: only the graceful path can explain what is seen.
    const [a, b] = (await instances(2, { PRESENCE_TTL_MS: "9000" })) as [TestApp, TestApp];
    await as(b, "erin");
    const w = await watch(a, ["erin"]);
    expect(w.snapshot[0]).toMatchObject({ status: "online", devices: 1 });

    const stopping = b.close();
    await eventually(async () => (await statusOf(w.socket, "erin"))?.devices === 0, 3000);
    await eventually(() => w.seen.length === 1, 6000);
    expect(w.seen[0]).toMatchObject({ userId: "erin", status: "offline", devices: 0 });
    await stopping;
    fixture.apps = fixture.apps.filter((x) => x !== b);
  });
});
