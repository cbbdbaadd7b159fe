import { describe, expect, it } from "vitest";
import { eventually, ok, record, request, sleep } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { type ChatTestApp, startChatApp, uniquePrefix, user } from "./support.js";

/** No acknowledged message is ever lost: while Redis is down, chat:send says UNAVAILABLE and delivers nothing. */

const fixture = usePrivateRedis<ChatTestApp>();

const ready = async (app: ChatTestApp) => (await fetch(`${app.url}/ready`)).status === 200;

describe("chat while Redis is down", () => {
  it("answers UNAVAILABLE without broadcasting while Redis is stopped, and works again once it is back", async () => {
    const env = { REDIS_URL: fixture.redis.url, REDIS_KEY_PREFIX: uniquePrefix("outage") };
    const [a, b] = await Promise.all([startChatApp(env), startChatApp(env)]);
    fixture.apps.push(a, b);
    const alice = await user(a, "alice");
    const bob = await user(b, "bob");
    const bobOnA = await user(a, "bob");
    for (const s of [alice, bob, bobOnA]) await ok(s, "chat:join", { roomId: "team:core" });
    const bobSees = record(bob, "chat:message");
    const bobOnASees = record(bobOnA, "chat:message");
    const before = await ok(alice, "chat:send", { roomId: "team:core", text: "before", clientMsgId: "m-1" });
    // Both have it live before Redis goes: from here on, what they receive is new.
    await eventually(() => bobSees.length === 1 && bobOnASees.length === 1);
    bobSees.splice(0);
    bobOnASees.splice(0);

    await fixture.redis.stop();
    const started = Date.now();
    const res = await request(alice, "chat:send", {
      roomId: "team:core",
      text: "during",
      clientMsgId: "m-2",
    });
    expect(res.ok).toBe(false);
    expect(!res.ok && res.error.code).toBe("UNAVAILABLE");
    expect(Date.now() - started).toBeLessThan(5000);
    const join = await request(bobOnA, "chat:join", { roomId: "team:other" });
    expect(!join.ok && join.error.code).toBe("UNAVAILABLE");
    // The failed join leaves nothing behind: sending there is refused as not joined.
    const stray = await request(bobOnA, "chat:send", { roomId: "team:other", text: "x" });
    expect(!stray.ok && stray.error.code).toBe("NOT_IN_ROOM");
    await sleep(200);
    expect(bobSees).toEqual([]);
    expect(bobOnASees).toEqual([]);

    await fixture.redis.start();
    await eventually(async () => (await ready(a)) && (await ready(b)), 10_000, 100);
    // The client retries with the same clientMsgId: stored once, delivered once.
    const retried = await ok(alice, "chat:send", { roomId: "team:core", text: "during", clientMsgId: "m-2" });
    expect(retried.text).toBe("during");
    await eventually(() => bobSees.length === 1 && bobOnASees.length === 1);
    expect(bobSees).toEqual([retried]);
    expect(bobOnASees).toEqual([retried]);
    const history = await ok(bob, "chat:history", { roomId: "team:core" });
    expect(history.messages.map((m) => m.id)).toContain(retried.id);
    expect(before.id).not.toBe(retried.id);
  });
});
