import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Message } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import {
  closeAllClients,
  eventually,
  ok,
  record,
  request,
  sleep,
  type TestSocket,
} from "../helpers/client.js";
import { RedisLinkProxy } from "../helpers/redis-link-proxy.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { user } from "./support.js";

/**
 * The delivery half of chat's promise, across two instances with faulted Redis links:
 * every member receives a room's messages in log order, with no hole, whichever instance
 * stored them, and a message that is stored reaches the members even when the instance
 * that stored it never hears back from Redis.
 */
describe("chat delivery across instances with faulted Redis links", () => {
  let redis: RedisServer;
  let proxyA: RedisLinkProxy;
  let proxyB: RedisLinkProxy;
  let a: TestApp;
  let b: TestApp;
  let room = "";

  beforeAll(async () => {
    redis = await startRedis();
    [proxyA, proxyB] = await Promise.all([
      new RedisLinkProxy({ port: redis.port }).start(),
      new RedisLinkProxy({ port: redis.port }).start(),
    ]);
    const env = { REDIS_KEY_PREFIX: `dl${randomBytes(3).toString("hex")}:`, RATE_CHAT_SEND_PER_SEC: "1000" };
    a = await startApp({ ...env, REDIS_URL: proxyA.url });
    b = await startApp({ ...env, REDIS_URL: proxyB.url });
  });
  beforeEach(() => {
    room = `team:r${randomBytes(3).toString("hex")}`;
  });
  afterEach(() => {
    closeAllClients();
    for (const proxy of [proxyA, proxyB])
      for (const role of ["cmd", "pub", "sub"] as const) proxy.resume(role);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([proxyA?.stop(), proxyB?.stop()]);
    await redis?.destroy();
  });

  async function member(app: TestApp, name: string): Promise<{ socket: TestSocket; seen: Message[] }> {
    const socket = await user(app, name);
    const seen = record(socket, "chat:message");
    await ok(socket, "chat:join", { roomId: room });
    return { socket, seen };
  }

  async function log(socket: TestSocket): Promise<Message[]> {
    return (await ok(socket, "chat:history", { roomId: room, limit: 100 })).messages;
  }

  it("hands members on every instance a room's messages in log order when one instance's links are slow", async () => {
    const onA = await member(a, "ann");
    const onB = await member(b, "bea");
    const senderA = await member(a, "sam");
    const senderB = await member(b, "sid");
    // The links of B to Redis are 300 ms slow (its publish link was enough to reorder).
    proxyB.delay("pub", 300);
    const first = ok(senderB.socket, "chat:send", { roomId: room, text: "m1 via B" });
    await sleep(30);
    const second = ok(senderA.socket, "chat:send", { roomId: room, text: "m2 via A" });
    await Promise.all([first, second]);
    const stored = await log(onA.socket);
    expect(stored.map((m) => m.seq)).toEqual([1, 2]);
    await eventually(() => onA.seen.length === 2 && onB.seen.length === 2, 3000);
    for (const who of [onA, onB, senderA, senderB]) {
      await eventually(() => who.seen.length === 2, 3000);
      expect(who.seen.map((m) => m.id)).toEqual(stored.map((m) => m.id));
    }
  });

  it("leaves no hole for a client that rejoins from the last message it holds", async () => {
    const onA = await member(a, "ann");
    const senderA = await member(a, "sam");
    const senderB = await member(b, "sid");
    proxyB.delay("pub", 300);
    void ok(senderB.socket, "chat:send", { roomId: room, text: "m1 via B" });
    await sleep(30);
    await ok(senderA.socket, "chat:send", { roomId: room, text: "m2 via A" });
    await sleep(30);
    // Cut for a second, then back with the id of the last message it holds as its cursor.
    onA.socket.disconnect();
    await sleep(1000);
    const last = onA.seen.at(-1);
    onA.socket.connect();
    await eventually(() => onA.socket.connected, 3000);
    const rejoin = await ok(onA.socket, "chat:join", { roomId: room, ...(last ? { since: last.id } : {}) });
    const held = [...onA.seen.filter((m) => !rejoin.messages.some((r) => r.id === m.id)), ...rejoin.messages];
    await sleep(500);
    const stored = await log(senderA.socket);
    expect(stored).toHaveLength(2);
    expect(held.map((m) => m.id)).toEqual(stored.map((m) => m.id));
    if (last) expect(rejoin.recovered).toBe(true);
  });

  it("delivers a message stored through an instance whose publish link hangs, to members elsewhere", async () => {
    const onA = await member(a, "ann");
    const senderB = await member(b, "sid");
    proxyB.stall("pub");
    const sent = await ok(senderB.socket, "chat:send", { roomId: room, text: "stored", clientMsgId: "c-1" });
    // The sender retries on another instance, as a client that lost B would.
    const senderA = await member(a, "sid");
    const retry = await ok(senderA.socket, "chat:send", { roomId: room, text: "stored", clientMsgId: "c-1" });
    expect(retry.id).toBe(sent.id);
    await eventually(() => onA.seen.length === 1, 3000);
    expect(onA.seen.map((m) => m.id)).toEqual([sent.id]);
  });

  it("delivers, once, a message stored by a send that timed out and was retried on another instance", async () => {
    const onA = await member(a, "ann");
    const onB = await member(b, "bea");
    const senderB = await member(b, "sid");
    // Redis runs B's commands but B never hears back: its send answers UNAVAILABLE.
    proxyB.holdReplies("cmd");
    const first = await request(senderB.socket, "chat:send", {
      roomId: room,
      text: "once",
      clientMsgId: "c-2",
    });
    expect(first).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    const senderA = await member(a, "sid");
    const retry = await ok(senderA.socket, "chat:send", { roomId: room, text: "once", clientMsgId: "c-2" });
    proxyB.resume("cmd");
    await eventually(() => onA.seen.length >= 1 && onB.seen.length >= 1, 5000);
    await sleep(300);
    expect(onA.seen.map((m) => m.id)).toEqual([retry.id]);
    expect(onB.seen.map((m) => m.id)).toEqual([retry.id]);
  });
});
