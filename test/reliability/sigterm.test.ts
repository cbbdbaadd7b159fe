import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { connected, eventually, nextEvent, sleep } from "../helpers/client.js";
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
 * Fault 4: SIGTERM to an instance under chat traffic (a rolling deploy). Its clients are
 * told, move to the other instance through the load balancer, and nothing acknowledged
 * is lost.
 */

const ROOM = "team:load";
const GRACE_MS = 2500;

const fixture = useFaultFixture();

describe("SIGTERM under chat traffic", () => {
  it("tells its clients server:shutdown, exits 0 within SHUTDOWN_GRACE_MS even with a client that stays, and loses no acknowledged message", async () => {
    const redis = await startRedis();
    fixture.redis = redis;
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `st${randomBytes(4).toString("hex")}:`,
      ...TRAFFIC_LIMITS,
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
    };
    const [leaving, staying] = await fixture.twoInstances(env);
    const lb = await new LoadBalancer(() => [leaving.port, staying.port]).start();
    fixture.lb = lb;

    const movers = await Promise.all(["ann", "ben"].map((u) => ChatClient.open(lb.url, u, ROOM, RECONNECT)));
    const stayers = await Promise.all(
      ["cat", "dan"].map((u) => ChatClient.open(staying.url, u, ROOM, RECONNECT)),
    );
    const clients = [...movers, ...stayers];
    expect(new Set(lb.routed)).toEqual(new Set([leaving.port]));
    // A client that ignores the notice: the instance must still be gone within the grace.
    const stubborn = await connected(leaving.url, await tokenFor("stubborn"));
    const stubbornTold = nextEvent(stubborn, "server:shutdown", 10_000);
    const stubbornClosed = new Promise<string>((resolve) => stubborn.once("disconnect", resolve));

    const traffic = startTraffic(clients, { intervalMs: 75, reliable: true });
    await sleep(1500);
    const signalledAt = Date.now();
    const exitCode = await leaving.signal("SIGTERM");
    const exitedAfterMs = Date.now() - signalledAt;
    await eventually(() => movers.every((c) => c.connects === 2 && c.joined), 10_000);
    await sleep(1000);
    await traffic.stop();

    expect(await stubbornTold).toEqual({ reconnect: true });
    expect(await stubbornClosed).toBe("io server disconnect");
    expect(exitCode).toBe(0);
    expect(exitedAfterMs).toBeLessThan(GRACE_MS);
    expect(leaving.lines.some((l) => l.msg === "stopped")).toBe(true);
    for (const c of movers) expect(c.shutdownNotices).toEqual([{ reconnect: true }]);
    for (const c of stayers) expect(c.shutdownNotices).toEqual([]);
    expect(lb.routed.filter((port) => port === staying.port)).toHaveLength(2);
    for (const c of movers) expect(c.joins[1]?.result.recovered).toBe(true);

    const acked = ackedMessages(clients);
    const ackedIds = sortedIds(acked);
    console.info(
      `sigterm: exited ${exitedAfterMs} ms after the signal (grace ${GRACE_MS}); ${acked.length} acknowledged, ` +
        `${clients.flatMap((c) => c.outcomes).length} attempts`,
    );
    expect(acked.filter((m) => m.createdAt < signalledAt).length).toBeGreaterThan(20);
    expect(acked.filter((m) => m.createdAt > signalledAt + exitedAfterMs).length).toBeGreaterThan(20);
    const history = await readHistory((stayers[0] as ChatClient).socket, ROOM);
    expect(history.map((m) => m.id)).toEqual(ackedIds);
    await eventually(() => clients.every((c) => c.received.size >= ackedIds.length), 5000);
    for (const c of clients) expect(c.ids()).toEqual(ackedIds);
    // Handed over in log order, with nothing skipped, across the move to another instance.
    for (const c of clients) expect(handedInOrder(c)).toEqual({ jumps: 0, outOfOrder: 0 });
  });
});
