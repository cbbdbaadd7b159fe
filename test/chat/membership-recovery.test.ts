import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { closeAllClients, eventually, ok, record } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { type ChatTestApp, startChatApp, uniquePrefix, user } from "./support.js";

/** Room members after Redis lost some of its state: rewritten by the instances that hold them. */

let redis: RedisServer;
let admin: Redis;
const apps: ChatTestApp[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = redis.client();
});
afterEach(async () => {
  closeAllClients();
  await Promise.all(apps.splice(0).map((a) => a.close()));
});
afterAll(async () => {
  admin.disconnect();
  await redis.destroy();
});

async function twoInstances(prefix: string): Promise<[ChatTestApp, ChatTestApp]> {
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, PRESENCE_TTL_MS: "600" };
  const started = await Promise.all([startChatApp(env), startChatApp(env)]);
  apps.push(...started);
  return started as [ChatTestApp, ChatTestApp];
}

/** The users a fresh joiner is told are in the room (itself left out). */
async function onlineSeenBy(app: ChatTestApp, name: string): Promise<string[]> {
  const joined = await ok(await user(app, name), "chat:join", { roomId: "team:core" });
  return joined.online.filter((id) => id !== name).sort();
}

describe("room members after Redis lost them", () => {
  it("writes a room's members again once the room feed is back, when Redis lost the room's entries", async () => {
    const prefix = uniquePrefix("lost-room");
    const [a, b] = await twoInstances(prefix);
    await ok(await user(a, "alice"), "chat:join", { roomId: "team:core" });
    await ok(await user(b, "bob"), "chat:join", { roomId: "team:core" });

    // The room's shard failed over to a replica without them: the entries are gone, the
    // instance registry is not, and every subscription to the room was cut.
    await admin.del(`${prefix}chat:{team:core}:members`, `${prefix}chat:{team:core}:holders`);
    expect(Number(await admin.call("CLIENT", "KILL", "TYPE", "pubsub"))).toBeGreaterThanOrEqual(2);

    await eventually(async () => (await admin.hlen(`${prefix}chat:{team:core}:members`)) === 2, 8000);
    expect(await onlineSeenBy(a, "carol")).toEqual(["alice", "bob"]);
  });

  it("keeps everyone in the room, with no leave, when Redis lost the instance registry", async () => {
    const prefix = uniquePrefix("lost-registry");
    const [a, b] = await twoInstances(prefix);
    const watcher = await user(a, "watcher");
    const members = record(watcher, "chat:member");
    await ok(watcher, "chat:join", { roomId: "team:core" });
    await ok(await user(a, "alice"), "chat:join", { roomId: "team:core" });
    await ok(await user(b, "bob"), "chat:join", { roomId: "team:core" });
    const before = await admin.zrange(`${prefix}{instances}:live`, "0", "-1");
    expect(before).toHaveLength(2);

    await admin.del(`${prefix}{instances}:live`);
    // Both register again, write their rooms under the new registrations, and the old ones
    // are reaped: their entries are leftovers by then.
    // The old registrations are declared dead only after the new ones wrote their rooms: wait
    // for the whole sequence, not for a moment between its steps.
    const leftovers = async () =>
      (await admin.hkeys(`${prefix}chat:{team:core}:members`)).filter((f) =>
        before.some((r) => f.endsWith(` ${r}`)),
      );
    await eventually(async () => {
      const live = await admin.zrange(`${prefix}{instances}:live`, "0", "-1");
      const dead = await admin.zcard(`${prefix}{instances}:dead`);
      const reregistered = live.length === 2 && !live.some((r) => before.includes(r));
      return reregistered && dead === 0 && (await leftovers()).length === 0;
    }, 8000);
    expect(await leftovers()).toEqual([]);
    expect(members.filter((m) => m.event === "leave")).toEqual([]);
    expect(await onlineSeenBy(b, "carol")).toEqual(["alice", "bob", "watcher"]);
  });
});
