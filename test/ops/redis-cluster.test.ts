import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Message, Notification, PresenceState } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import {
  closeAllClients,
  connectError,
  connected,
  eventually,
  nextEvent,
  ok,
  record,
  request,
  sleep,
} from "../helpers/client.js";
import { RedisCluster } from "../helpers/redis-cluster.js";
import { tokenFor } from "../helpers/tokens.js";

const API_KEY = "cluster-test-internal-api-key-0123456789";

/**
 * The cross-instance behaviour of chat, presence and notifications over a real
 * three-master Redis Cluster with the sharded (SSUBSCRIBE) adapter.
 */
describe("two instances over a Redis Cluster with sharded pub/sub", () => {
  let cluster: RedisCluster;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    cluster = await new RedisCluster().start();
    const env = {
      REDIS_MODE: "cluster",
      REDIS_URL: `redis://${cluster.seeds.split(",")[0]}`,
      REDIS_CLUSTER_NODES: cluster.seeds,
      REDIS_ADAPTER: "sharded",
      REDIS_KEY_PREFIX: `cl${Date.now()}:`,
      INTERNAL_API_KEY: API_KEY,
      PRESENCE_TTL_MS: "1500",
      PRESENCE_GRACE_MS: "300",
    };
    a = await startApp({ ...env, INSTANCE_ID: "A" });
    b = await startApp({ ...env, INSTANCE_ID: "B" });
  }, 60_000);
  afterEach(() => closeAllClients());
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await cluster?.destroy();
  });

  it("is ready and uses the sharded adapter in cluster mode", async () => {
    for (const t of [a, b]) {
      expect((await fetch(`${t.url}/ready`)).status).toBe(200);
      expect(t.logs.find((l) => l.msg === "redis adapter")).toMatchObject({
        adapter: "sharded",
        mode: "cluster",
      });
    }
  });

  it("delivers chat messages sent on A to members on A and B exactly once and in order, and recovers with since", async () => {
    const claims = { rooms: ["team:*"] };
    const alice = await connected(a.url, await tokenFor("alice", claims));
    const bob = await connected(b.url, await tokenFor("bob", claims));
    await ok(alice, "chat:join", { roomId: "team:cluster" });
    await ok(bob, "chat:join", { roomId: "team:cluster" });
    const seenByBob = record(bob, "chat:message");
    const seenByAlice = record(alice, "chat:message");

    const sent: Message[] = [];
    for (let i = 0; i < 10; i++) {
      sent.push(
        await ok(alice, "chat:send", { roomId: "team:cluster", text: `m${i}`, clientMsgId: `c${i}` }),
      );
    }
    // A retry of an acknowledged send returns the original and broadcasts nothing new.
    const retry = await ok(alice, "chat:send", { roomId: "team:cluster", text: "m9", clientMsgId: "c9" });
    expect(retry.id).toBe(sent[9]?.id);

    await eventually(() => seenByBob.length >= 10 && seenByAlice.length >= 10);
    await sleep(200);
    expect(seenByBob.map((m) => m.id)).toEqual(sent.map((m) => m.id));
    expect(seenByAlice.map((m) => m.id)).toEqual(sent.map((m) => m.id));

    const late = await connected(b.url, await tokenFor("carol", claims));
    const recovered = await ok(late, "chat:join", { roomId: "team:cluster", since: sent[4]?.id });
    expect(recovered.recovered).not.toBe(false);
    expect(recovered.messages.map((m) => m.id)).toEqual(sent.slice(5).map((m) => m.id));
  });

  it("reports presence of a user on B to a subscriber on A, online then offline after the grace", async () => {
    const watcher = await connected(a.url, await tokenFor("watcher"));
    const initial = (await ok(watcher, "presence:subscribe", { userIds: ["dana"] })) as PresenceState[];
    expect(initial[0]?.status).toBe("offline");

    const online = nextEvent(
      watcher,
      "presence:changed",
      5000,
      (s) => s.userId === "dana" && s.status === "online",
    );
    const dana = await connected(b.url, await tokenFor("dana"));
    expect(await online).toMatchObject({ userId: "dana", status: "online", devices: 1 });

    const offline = nextEvent(
      watcher,
      "presence:changed",
      5000,
      (s) => s.userId === "dana" && s.status === "offline",
    );
    dana.disconnect();
    expect(await offline).toMatchObject({ userId: "dana", status: "offline", devices: 0 });
  });

  it("delivers a notification published on A to the user's devices on A and B once, and lists it", async () => {
    const phone = await connected(a.url, await tokenFor("erin"));
    const laptop = await connected(b.url, await tokenFor("erin"));
    const onPhone = record(phone, "notification:new");
    const onLaptop = record(laptop, "notification:new");

    const res = await fetch(`${a.url}/internal/notifications`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      // Recipients whose keys live on different shards, in one request.
      body: JSON.stringify({
        userIds: ["erin", ...Array.from({ length: 30 }, (_, i) => `other${i}`)],
        type: "test",
        title: "over the cluster",
      }),
    });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { notifications: unknown[] }).notifications).toHaveLength(31);
    await eventually(() => onPhone.length === 1 && onLaptop.length === 1);
    await sleep(200);
    expect(onPhone).toHaveLength(1);
    expect(onLaptop).toHaveLength(1);
    const list = await request(laptop, "notification:list", {});
    expect(list.ok && list.data.items.map((n: Notification) => n.title)).toEqual(["over the cluster"]);
    expect(list.ok && list.data.unreadCount).toBe(1);
  });

  it("disconnects a user's sockets on every instance through the internal API", async () => {
    const one = await connected(a.url, await tokenFor("frank"));
    const two = await connected(b.url, await tokenFor("frank"));
    const gone = Promise.all([one, two].map((s) => new Promise((r) => s.once("disconnect", r))));
    const res = await fetch(`${b.url}/internal/users/frank/disconnect`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(res.status).toBe(202);
    await gone;
  });

  it("revokes a user's tokens on both instances: the announcement crosses the cluster", async () => {
    const token = await tokenFor("rev-cl");
    // B answers for the user once, so its cache must hear the revocation.
    const onB = await connected(b.url, token);
    const gone = new Promise<void>((resolve) => onB.once("disconnect", () => resolve()));
    const res = await fetch(`${a.url}/internal/users/rev-cl/revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(202);
    await gone;
    const refused = await connectError(b.url, token);
    expect(refused.data).toMatchObject({ code: "TOKEN_INVALID" });
  });
});
