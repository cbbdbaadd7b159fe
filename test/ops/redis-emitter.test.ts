import { randomBytes } from "node:crypto";
import { Emitter } from "@socket.io/redis-emitter";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import type { Notification, ServerToClientEvents } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { connected, eventually, nextEvent, record } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * The README's `@socket.io/redis-emitter` example, with the real package, against two
 * instances and each REDIS_ADAPTER: a backend reaches its users with the default settings
 * too (on Redis 7 `auto` is the sharded adapter, which does not hear the emitter's
 * classic PUBLISH by itself).
 */

const fixture = usePrivateRedis<TestApp>();
const backends: Redis[] = [];
afterAll(() => {
  for (const client of backends) client.disconnect();
});

const notification = (title: string): Notification => ({
  id: `${Date.now()}-000000`,
  type: "backend",
  title,
  createdAt: Date.now(),
  readAt: null,
});

/** The adapter an instance ended up with, from its start-up log. */
const adapterOf = (app: TestApp) => app.logs.find((l) => l.msg === "redis adapter")?.adapter;

describe.each([
  ["the default (auto)", undefined],
  ["classic", "classic"],
  ["sharded", "sharded"],
])("the redis-emitter example with REDIS_ADAPTER %s", (_name, adapter) => {
  it("reaches the users' sockets on every instance: emit to rooms, except, and disconnectSockets", async () => {
    const prefix = `em${randomBytes(4).toString("hex")}:`;
    const env = { REDIS_URL: fixture.redis.url, REDIS_KEY_PREFIX: prefix, REDIS_ADAPTER: adapter };
    const [a, b] = await Promise.all([startApp(env), startApp(env)]);
    fixture.apps.push(a, b);
    if (adapter === undefined) {
      const major = Number(
        /redis_version:(\d+)/.exec(String(await a.app.redis?.command.info("server")))?.[1],
      );
      expect(adapterOf(a)).toBe(major >= 7 ? "sharded" : "classic");
    }
    const u1OnA = await connected(a.url, await tokenFor("u1"));
    const u1OnB = await connected(b.url, await tokenFor("u1"));
    const u2 = await connected(b.url, await tokenFor("u2"));
    const u3 = await connected(a.url, await tokenFor("u3"));

    // As the README has it: the same prefix, the adapter's `socket.io` key.
    const backend = new Redis(fixture.redis.url);
    backends.push(backend);
    const emitter = new Emitter<ServerToClientEvents>(backend, { key: `${prefix}socket.io` });

    const toU1 = notification("to u1's devices");
    const got = [nextEvent(u1OnA, "notification:new"), nextEvent(u1OnB, "notification:new")];
    emitter.to("user:u1").emit("notification:new", toU1);
    expect(await Promise.all(got)).toEqual([toU1, toU1]);

    // Several rooms and an exception (the emitter's channel without a room).
    const u3Sees = record(u3, "notification:new");
    const toU2 = notification("to u2, not u3");
    const u2Got = nextEvent(u2, "notification:new");
    emitter.to(["user:u2", "user:u3"]).except("user:u3").emit("notification:new", toU2);
    expect(await u2Got).toEqual(toU2);
    // Published after it on the same channel: u3 would have had the first one by now.
    const toBoth = notification("to u2 and u3");
    emitter.to(["user:u3", "user:u2"]).emit("notification:new", toBoth);
    await eventually(() => u3Sees.length > 0);
    expect(u3Sees).toEqual([toBoth]);

    // A logout from the backend.
    const gone = new Promise<string>((resolve) => u2.once("disconnect", resolve));
    emitter.to("user:u2").disconnectSockets(true);
    expect(await gone).toBe("io server disconnect");
    expect(u1OnA.connected && u1OnB.connected && u3.connected).toBe(true);
  });
});
