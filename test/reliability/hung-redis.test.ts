import { randomBytes } from "node:crypto";
import { createServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { RedisConnections } from "../../src/infra/redis.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { connected, eventually, ok, request } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * A Redis that hangs instead of going away (SIGSTOP: connections stay open, nothing is
 * answered, as with a stalled or overloaded server): no ack waits longer than the 5 s that
 * docs/reliability.md promises, and the process still shuts down cleanly.
 */

/** The bound docs/reliability.md states for every ack while Redis is in trouble. */
const PROMISED_ACK_MS = 5000;

const fixture = usePrivateRedis<TestApp>();

const hang = () => fixture.redis.process?.kill("SIGSTOP");
// Registered after the fixture's hooks, so it runs before them: Redis answers again before
// the apps close and the server is destroyed.
afterEach(() => {
  fixture.redis.process?.kill("SIGCONT");
});

async function instance(): Promise<TestApp> {
  const app = await startApp({
    REDIS_URL: fixture.redis.url,
    REDIS_KEY_PREFIX: `hr${randomBytes(4).toString("hex")}:`,
  });
  fixture.apps.push(app);
  return app;
}

/** Unhandled rejections while `body` runs (vitest would also report them, but later and elsewhere). */
async function collectUnhandled(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on("unhandledRejection", listener);
  try {
    await body();
    // A rejection is reported once the microtasks of the turn it happened in have run.
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("unhandledRejection", listener);
  }
  return seen;
}

/** Resolves with the app's Redis connections once it has shut down; fails the test past `ms`. */
async function closesWithin(app: TestApp, ms: number): Promise<RedisConnections> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`shutdown did not end within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([app.close(), timeout]);
  } finally {
    clearTimeout(timer);
  }
  return app.app.redis as RedisConnections;
}

describe("a hung Redis (SIGSTOP)", () => {
  it("answers chat:join to a new room and presence:subscribe with UNAVAILABLE within the promised bound", async () => {
    const app = await instance();
    const alice = await connected(app.url, await tokenFor("alice", { rooms: ["team:*"] }));
    const bob = await connected(app.url, await tokenFor("bob"));
    hang();
    // Each chains several Redis waits (rate limit, room subscription, reads), every one
    // of which times out on its own.
    const [join, subscribe] = await Promise.all([
      request(alice, "chat:join", { roomId: "team:fresh" }, PROMISED_ACK_MS),
      request(bob, "presence:subscribe", { userIds: ["carol", "dave"] }, PROMISED_ACK_MS),
    ]);
    expect(join).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    expect(subscribe).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });

    // Nothing is broken once Redis answers again: the same requests succeed.
    fixture.redis.process?.kill("SIGCONT");
    await eventually(
      async () => (await request(alice, "chat:join", { roomId: "team:fresh" })).ok,
      10_000,
      200,
    );
    const states = await ok(bob, "presence:subscribe", { userIds: ["carol", "dave"] });
    expect(states.map((s) => s.userId)).toEqual(["carol", "dave"]);
  });

  it("shuts down while Redis hangs, without an unhandled rejection from the commands it leaves unanswered", async () => {
    const app = await instance();
    const alice = await connected(app.url, await tokenFor("alice", { rooms: ["team:*"] }));
    await ok(alice, "chat:join", { roomId: "team:core" });
    hang();
    // Leaving deletes the socket's rooms: the adapter unsubscribes from them, unanswered.
    alice.disconnect();
    await eventually(() => app.app.io.of("/").sockets.size === 0);
    const unhandled = await collectUnhandled(async () => {
      const redis = await closesWithin(app, 5000);
      await eventually(() => redis.sub.status === "end");
    });
    expect(unhandled).toEqual([]);
  });

  it("shuts down without an unhandled rejection while its subscriber reconnects to a Redis that hangs", async () => {
    // The event-flood suite's teardown: Redis back, the instance's subscriber reconnecting
    // with the unsubscriptions of the sockets that left meanwhile still queued.
    const app = await instance();
    const alice = await connected(app.url, await tokenFor("alice", { rooms: ["team:*"] }));
    await ok(alice, "chat:join", { roomId: "team:core" });
    const redis = app.app.redis as RedisConnections;
    await fixture.redis.stop();
    await eventually(() => redis.sub.status !== "ready");
    alice.disconnect();
    await eventually(() => app.app.io.of("/").sockets.size === 0);
    // In Redis' place, a server that accepts connections and never answers: the subscriber
    // connects and waits for the answer to its ready check, its queue kept.
    const peers: Socket[] = [];
    const silent = createServer((peer) => peers.push(peer));
    await new Promise<void>((resolve) => silent.listen(fixture.redis.port, "127.0.0.1", resolve));
    try {
      await eventually(() => redis.sub.status === "connect", 10_000);
      const unhandled = await collectUnhandled(async () => {
        await closesWithin(app, 5000);
        await eventually(() => redis.sub.status === "end");
      });
      expect(unhandled).toEqual([]);
    } finally {
      for (const peer of peers) peer.destroy();
      await new Promise((resolve) => silent.close(resolve));
      await fixture.redis.start();
    }
  });
});
