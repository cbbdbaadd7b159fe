import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { PresenceState } from "../../src/protocol/index.js";
import { connected, eventually, ok, record, sleep } from "../helpers/client.js";
import { startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";
import {
  ackedMessages,
  ChatClient,
  handedInOrder,
  LoadBalancer,
  RECONNECT,
  readHistory,
  sortedIds,
  startTraffic,
  TRAFFIC_LIMITS,
  useFaultFixture,
} from "./support.js";

/**
 * Fault 3: an instance SIGKILLed under chat traffic. Its clients come back through the
 * load balancer on the survivor, recover with `since`, and end with exactly the
 * acknowledged messages; presence forgets the dead instance's connections in its bound.
 */

const ROOM = "team:load";
const TTL = 1500;
const GRACE = 600;
/** The documented bound is TTL + TTL/3 (+ the grace); doubled for a loaded 2-core machine. */
const PRESENCE_BOUND = 2 * (TTL + TTL / 3 + GRACE);

const fixture = useFaultFixture();

describe("an instance SIGKILLed under chat traffic", () => {
  it("moves its clients to the survivor, where they recover with since and end with exactly the acknowledged messages; presence is corrected within its bound", async () => {
    const redis = await startRedis();
    fixture.redis = redis;
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `ik${randomBytes(4).toString("hex")}:`,
      ...TRAFFIC_LIMITS,
      RATE_PRESENCE_SUBSCRIBE_PER_SEC: "1000",
      PRESENCE_TTL_MS: String(TTL),
      PRESENCE_GRACE_MS: String(GRACE),
    };
    const [victim, survivor] = await fixture.twoInstances(env);
    // The balancer prefers the victim while it is ready: its clients land there first.
    const lb = await new LoadBalancer(() => [victim.port, survivor.port]).start();
    fixture.lb = lb;

    const movers = await Promise.all(["ann", "ben"].map((u) => ChatClient.open(lb.url, u, ROOM, RECONNECT)));
    const stayers = await Promise.all(
      ["cat", "dan"].map((u) => ChatClient.open(survivor.url, u, ROOM, RECONNECT)),
    );
    const clients = [...movers, ...stayers];
    // A user whose only device was on the victim and does not come back.
    await connected(victim.url, await tokenFor("eve"));
    const watcher = await connected(survivor.url, await tokenFor("watcher"));
    const presenceEvents = record(watcher, "presence:changed");
    const snapshot = await ok(watcher, "presence:subscribe", { userIds: ["ann", "ben", "eve"] });
    expect(snapshot.map((s) => [s.userId, s.status, s.devices])).toEqual([
      ["ann", "online", 1],
      ["ben", "online", 1],
      ["eve", "online", 1],
    ]);
    expect(new Set(lb.routed)).toEqual(new Set([victim.port]));

    const traffic = startTraffic(clients, { intervalMs: 75, reliable: true });
    await sleep(1500);
    // The victim's last acks are lost on the way: its clients must retry those sends on the
    // survivor, where the same clientMsgId has to give back the message already stored.
    lb.holdReplies(victim.port);
    await sleep(300);
    await victim.signal("SIGKILL");
    const killedAt = Date.now();
    await eventually(() => movers.every((c) => c.connects === 2 && c.joined), 10_000);
    await sleep(1500);
    await traffic.stop();

    // The movers came back on the survivor and recovered from their last seen id.
    expect(lb.routed.filter((port) => port === survivor.port)).toHaveLength(2);
    for (const c of movers) {
      const rejoin = c.joins[1];
      expect(rejoin?.since).toBeDefined();
      expect(rejoin?.result.recovered).toBe(true);
    }

    // Exactly the acknowledged messages, each once: in the history and on every client.
    const acked = ackedMessages(clients);
    const ackedIds = sortedIds(acked);
    console.info(
      `instance kill: ${acked.length} acknowledged, ${clients.flatMap((c) => c.outcomes).length} attempts, ` +
        `recovered ${movers.map((c) => c.joins[1]?.result.messages.length).join("/")} messages on rejoin`,
    );
    expect(acked.length).toBeGreaterThan(40);
    expect(new Set(ackedIds).size).toBe(ackedIds.length);
    // Sends whose ack was lost were retried, and answered with the message stored before the kill.
    const retried = movers.flatMap((c) =>
      c.outcomes.filter((o) => o.result === "disconnected").map((o) => c.acked.get(o.clientMsgId)),
    );
    expect(retried.length).toBeGreaterThan(0);
    expect(retried.filter((m) => m !== undefined && m.createdAt < killedAt).length).toBeGreaterThan(0);
    for (const c of clients) {
      for (const o of c.outcomes) {
        if (o.message) expect(o.message.id).toBe(c.acked.get(o.clientMsgId)?.id);
      }
    }
    const history = await readHistory((stayers[0] as ChatClient).socket, ROOM);
    expect(history.map((m) => m.id)).toEqual(ackedIds);
    await eventually(() => clients.every((c) => c.received.size >= ackedIds.length), 5000);
    for (const c of clients) expect(c.ids()).toEqual(ackedIds);
    // Handed over in log order, with nothing skipped, across the move to another instance.
    for (const c of clients) expect(handedInOrder(c)).toEqual({ jumps: 0, outOfOrder: 0 });

    // Presence: eve (gone with the victim) goes offline once; the movers stay online with
    // the one device they have now, and never flap.
    await eventually(() => presenceEvents.some((s) => s.userId === "eve"), PRESENCE_BOUND);
    console.info(
      `instance kill: eve offline ${Date.now() - killedAt} ms after the kill (bound ${TTL + TTL / 3 + GRACE} ms)`,
    );
    const devices = async () =>
      (await ok(watcher, "presence:query", { userIds: ["ann", "ben", "eve"] })).map(
        (s: PresenceState) => `${s.userId}:${s.status}:${s.devices}`,
      );
    await eventually(
      async () => (await devices()).join() === "ann:online:1,ben:online:1,eve:offline:0",
      PRESENCE_BOUND,
      100,
    );
    expect(presenceEvents.map((s) => `${s.userId}:${s.status}`)).toEqual(["eve:offline"]);
    expect(survivor.exitCode).toBeNull();
  });
});
