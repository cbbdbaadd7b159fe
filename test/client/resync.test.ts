import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { compareMessageIds } from "../../src/client/ids.js";
import type { Message } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { eventually } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { closeSdkClients, recordSdk, sdkClient } from "./support.js";

/**
 * The SDK follows `chat:resync`: while its own connection stays up, its instance's pub/sub
 * link is cut (CLIENT KILL TYPE pubsub) and messages sent from another instance meanwhile
 * never arrive live. The client must still end with every message, each once.
 */
describe("SDK on a chat:resync", () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `rs${Date.now()}:`,
      RATE_CHAT_SEND_PER_SEC: "1000",
    };
    a = await startApp(env);
    b = await startApp(env);
  });
  afterEach(() => closeSdkClients());
  afterAll(async () => {
    await a.close();
    await b.close();
    await redis.destroy();
  });

  it("catches up from its last message without reconnecting, and misses nothing", async () => {
    const roomId = "team:follow";
    const alice = sdkClient(a.url, "alice");
    const bob = sdkClient(b.url, "bob");
    await alice.chat.join(roomId);
    await bob.chat.join(roomId);
    const bobGot = recordSdk(bob, "message");
    const statuses = recordSdk(bob, "status");

    const sent: Message[] = [];
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        sent.push(await alice.chat.send(roomId, `m${sent.length}`));
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await send(3);
    const admin = redis.client();
    await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    await admin.quit();
    await send(40);
    await eventually(() => sent.every((m) => bobGot.some((g) => g.id === m.id)), 8000);
    // Each once; the caught-up ones arrive after newer live ones, so compare in id order.
    expect(bobGot.map((m) => m.id).sort(compareMessageIds)).toEqual(sent.map((m) => m.id));
    // All of it over the same connection: no reconnect was needed.
    expect(statuses.filter((s) => s.status === "reconnecting")).toEqual([]);
  });
});
