import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChildServer } from "../helpers/child-server.js";
import { closeAllClients, connected, eventually, ok, record, sleep } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";
import { type ChatTestApp, startChatApp, uniquePrefix, user } from "./support.js";

/** Who is in a room (chat:member, join's `online`), devices and instances collapsed per user. */

let redis: RedisServer;
const apps: ChatTestApp[] = [];
let child: ChildServer | undefined;

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  closeAllClients();
  await child?.kill();
  child = undefined;
  await Promise.all(apps.splice(0).map((a) => a.close()));
});
afterAll(async () => {
  await redis.destroy();
});

async function twoInstances(env: Record<string, string> = {}): Promise<[ChatTestApp, ChatTestApp]> {
  const shared = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix("members"), ...env };
  const started = await Promise.all([startChatApp(shared), startChatApp(shared)]);
  apps.push(...started);
  return started as [ChatTestApp, ChatTestApp];
}

/**
 * The member events `socket` sees about others. Its own join is left out: whether it
 * arrives before or after the join's ack is not part of the contract.
 */
const memberEvents = (socket: Parameters<typeof record>[0], self: string) => {
  const seen = record(socket, "chat:member");
  return () => seen.filter((e) => e.userId !== self).map((e) => `${e.userId}:${e.event}`);
};

describe("room members across instances", () => {
  it("announces a user once when the first device joins and once when the last one leaves, whatever the instance", async () => {
    const [a, b] = await twoInstances();
    const watcher = await user(a, "watcher");
    const events = memberEvents(watcher, "watcher");
    await ok(watcher, "chat:join", { roomId: "team:core" });

    const phone = await user(a, "alice");
    const laptop = await user(b, "alice");
    await ok(phone, "chat:join", { roomId: "team:core" });
    await eventually(() => events().length === 1);
    await ok(laptop, "chat:join", { roomId: "team:core" });
    await ok(phone, "chat:leave", { roomId: "team:core" });
    await sleep(150);
    expect(events()).toEqual(["alice:join"]);

    laptop.disconnect();
    await eventually(() => events().length === 2);
    await sleep(100);
    expect(events()).toEqual(["alice:join", "alice:leave"]);
  });

  it("lists each user once in online, however many devices, and drops them when they leave", async () => {
    const [a, b] = await twoInstances();
    for (const [app, id] of [
      [a, "alice"],
      [b, "alice"],
      [a, "alice"],
      [b, "bob"],
    ] as const) {
      await ok(await user(app, id), "chat:join", { roomId: "team:core" });
    }
    const carol = await user(b, "carol");
    const joined = await ok(carol, "chat:join", { roomId: "team:core" });
    expect(joined.online.sort()).toEqual(["alice", "bob", "carol"]);

    const dave = await user(a, "dave");
    await ok(dave, "chat:join", { roomId: "team:core" });
    await ok(carol, "chat:leave", { roomId: "team:core" });
    const again = await ok(dave, "chat:join", { roomId: "team:core" });
    expect(again.online.sort()).toEqual(["alice", "bob", "dave"]);
  });

  it("counts a disconnect as leaving every chat room the socket had joined", async () => {
    const [a, b] = await twoInstances();
    const watcher = await user(b, "watcher");
    const seen: { roomId: string; userId: string; event: string }[] = [];
    watcher.on("chat:member", (e) => {
      if (e.userId !== "watcher") seen.push(e);
    });
    await ok(watcher, "chat:join", { roomId: "team:one" });
    await ok(watcher, "chat:join", { roomId: "team:two" });
    const alice = await user(a, "alice");
    await ok(alice, "chat:join", { roomId: "team:one" });
    await ok(alice, "chat:join", { roomId: "team:two" });
    await eventually(() => seen.length === 2);
    alice.disconnect();
    await eventually(() => seen.length === 4);
    expect(
      seen
        .slice(2)
        .map((e) => `${e.roomId} ${e.userId}:${e.event}`)
        .sort(),
    ).toEqual(["team:one alice:leave", "team:two alice:leave"]);
  });

  it("announces nothing for a second join of the same socket and answers it with the room as it is", async () => {
    const [a] = await twoInstances();
    const watcher = await user(a, "watcher");
    const events = memberEvents(watcher, "watcher");
    await ok(watcher, "chat:join", { roomId: "team:core" });
    const alice = await user(a, "alice");
    await ok(alice, "chat:join", { roomId: "team:core" });
    const rejoin = await ok(alice, "chat:join", { roomId: "team:core" });
    expect(rejoin.online.sort()).toEqual(["alice", "watcher"]);
    await sleep(150);
    expect(events()).toEqual(["alice:join"]);
  });

  it("takes the users of a killed instance out of the room on the survivors, once", async () => {
    // A short lease so the test sees the crash handled within seconds.
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix("crash"), PRESENCE_TTL_MS: "600" };
    child = await new ChildServer(env).start();
    const survivor = await startChatApp(env);
    apps.push(survivor);

    const watcher = await user(survivor, "watcher");
    const events = memberEvents(watcher, "watcher");
    await ok(watcher, "chat:join", { roomId: "team:core" });
    const ivan = await connected(child.url, await tokenFor("ivan", { rooms: ["team:*"] }));
    await ok(ivan, "chat:join", { roomId: "team:core" });
    const jane = await connected(child.url, await tokenFor("jane", { rooms: ["team:*"] }));
    await ok(jane, "chat:join", { roomId: "team:core" });
    const janeToo = await user(survivor, "jane");
    await ok(janeToo, "chat:join", { roomId: "team:core" });
    await eventually(() => events().length === 2);

    await child.signal("SIGKILL");
    await eventually(() => events().length === 3, 8000);
    await sleep(700); // another lease period: no second leave, and nothing for jane
    expect(events()).toEqual(["ivan:join", "jane:join", "ivan:leave"]);
    const check = await user(survivor, "check");
    expect((await ok(check, "chat:join", { roomId: "team:core" })).online.sort()).toEqual([
      "check",
      "jane",
      "watcher",
    ]);
  });
});
