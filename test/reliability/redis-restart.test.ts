import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { eventually, sleep } from "../helpers/client.js";
import { readyStatus } from "../helpers/ready.js";
import { startRedis } from "../helpers/redis-server.js";
import {
  ACK_TIMEOUT_MS,
  ChatClient,
  handedInOrder,
  readHistory,
  sortedIds,
  startTraffic,
  TRAFFIC_LIMITS,
  useFaultFixture,
} from "./support.js";

/**
 * Fault 1: Redis restarted under steady chat traffic across two built instances. The
 * Redis runs durable (appendonly yes, appendfsync always), as production should.
 */

const ROOM = "team:load";
const fixture = useFaultFixture();
const { servers } = fixture;

async function bothReady(urls: string[], status: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await eventually(
    async () => (await Promise.all(urls.map(readyStatus))).every((s) => s === status),
    timeoutMs,
    20,
  );
  return Date.now() - started;
}

describe("Redis restarted under steady chat traffic across two instances", () => {
  it("keeps both processes up, flips /ready, answers UNAVAILABLE without hanging, resumes cross-instance delivery and loses no acknowledged message", async () => {
    const redis = await startRedis({ durable: true });
    fixture.redis = redis;
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `rr${randomBytes(4).toString("hex")}:`,
      ...TRAFFIC_LIMITS,
    };
    const [a, b] = await fixture.twoInstances(env);
    const urls = [a.url, b.url];
    const clients = await Promise.all(
      ["ann", "ben", "cat", "dan"].map((userId, i) => ChatClient.open(urls[i % 2] as string, userId, ROOM)),
    );

    // Before: steady traffic with Redis up.
    const before = startTraffic(clients, { intervalMs: 75, reliable: false });
    await sleep(1500);

    await redis.stop("SIGKILL");
    const killedAt = Date.now();
    const notReadyAfterMs = await bothReady(urls, 503, 5000);
    const outageFrom = Date.now();
    await sleep(1000);
    const outageUntil = Date.now();
    await before.stop();

    await redis.start();
    const readyAgainAfterMs = await bothReady(urls, 200, 10_000);

    // After: the same traffic; every client must see every acknowledged message, whichever
    // instance stored it, which needs both instances' subscriber connections back.
    const after = startTraffic(clients, { intervalMs: 75, reliable: false });
    await sleep(1500);
    await after.stop();

    const outcomes = clients.flatMap((c) => c.outcomes);
    const acked = outcomes.flatMap((o) => (o.message ? [o.message] : []));
    const ackedAfter = outcomes
      .filter((o) => o.message && o.sentAt >= outageUntil)
      .map((o) => o.message?.id as string);
    console.info(
      `redis restart: /ready 503 after ${notReadyAfterMs} ms, 200 again ${readyAgainAfterMs} ms after restart; ` +
        `${outcomes.length} sends, ${acked.length} ok, ` +
        `${outcomes.filter((o) => o.result === "UNAVAILABLE").length} UNAVAILABLE`,
    );

    expect(notReadyAfterMs).toBeLessThan(2000);
    expect(readyAgainAfterMs).toBeLessThan(5000);

    // Nothing hung: every send was answered within the ack timeout.
    expect(outcomes.filter((o) => o.result === "timeout" || o.result === "disconnected")).toEqual([]);
    for (const o of outcomes) expect(o.answeredAt - o.sentAt).toBeLessThan(ACK_TIMEOUT_MS);
    // While both instances said "not ready", every send was refused as UNAVAILABLE.
    const duringOutage = outcomes.filter((o) => o.sentAt >= outageFrom && o.sentAt < outageUntil);
    expect(duringOutage.length).toBeGreaterThan(10);
    expect(new Set(duringOutage.map((o) => o.result))).toEqual(new Set(["UNAVAILABLE"]));
    // Traffic really flowed on both sides of the outage.
    expect(outcomes.filter((o) => o.result === "ok" && o.sentAt < killedAt).length).toBeGreaterThan(20);
    expect(ackedAfter.length).toBeGreaterThan(20);

    // Cross-instance delivery resumed: every message acknowledged after the restart
    // reached every client on both instances, live or, if it was published before the
    // other instance's subscriptions were back, from the relay's catch-up, in log order.
    await eventually(() => clients.every((c) => ackedAfter.every((id) => c.received.has(id))), 5000);
    for (const c of clients) expect(handedInOrder(c)).toEqual({ jumps: 0, outOfOrder: 0 });

    // Every acknowledged message survived the restart, and nothing else appeared.
    const history = await readHistory((clients[0] as ChatClient).socket, ROOM);
    const historyIds = new Set(history.map((m) => m.id));
    const missing = sortedIds(acked).filter((id) => !historyIds.has(id));
    expect(missing).toEqual([]);
    const attempted = new Set(outcomes.map((o) => o.clientMsgId));
    expect(history.filter((m) => !attempted.has(m.clientMsgId as string))).toEqual([]);
    expect(new Set(history.map((m) => `${m.senderId}|${m.clientMsgId}`)).size).toBe(history.length);

    // No process exited, and none logged a crash.
    expect([a.exitCode, a.exitSignal, b.exitCode, b.exitSignal]).toEqual([null, null, null, null]);
    for (const s of servers) {
      expect(s.lines.filter((l) => l.level === "fatal" || l.msg === "unhandled rejection")).toEqual([]);
    }
  });
});
