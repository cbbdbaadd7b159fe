import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BenchServer } from "../../bench/processes.js";
import { ConnectRefusedError, WireClient } from "../../bench/wire-client.js";
import { startApp, type TestApp } from "../helpers/app.js";
import {
  closeAllClients,
  connectError,
  connected,
  eventually,
  nextEvent,
  request,
} from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * The load generator speaks the Socket.IO wire format by hand; these tests hold it to
 * what the real socket.io-client does against the same servers.
 */

const wires: WireClient[] = [];
async function wire(url: string, auth: Record<string, unknown>): Promise<WireClient> {
  const client = await WireClient.connect(url, { auth, timeoutMs: 5000 });
  wires.push(client);
  return client;
}

afterEach(() => {
  for (const client of wires.splice(0)) client.close();
  closeAllClients();
});

describe("wire client against the service", () => {
  let redis: RedisServer;
  let app: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    app = await startApp({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: "wire-test:", LOG_LEVEL: "warn" });
  });
  afterAll(async () => {
    await app?.close();
    await redis?.destroy();
  });

  it("authenticates with the token in its CONNECT packet and gets the server's session id", async () => {
    const client = await wire(app.url, { token: await tokenFor("wire-alice") });
    expect(client.sid).not.toBe("");
    expect(client.handshake.pingInterval).toBe(25_000);
    const serverSide = app.app.io.of("/").sockets.get(client.sid);
    expect(serverSide?.data.user.id).toBe("wire-alice");
  });

  it("is refused with the same connect_error data as socket.io-client for a bad token", async () => {
    const expected = await connectError(app.url, "not-a-jwt");
    const refusal = await WireClient.connect(app.url, { auth: { token: "not-a-jwt" } }).catch(
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(ConnectRefusedError);
    expect((refusal as ConnectRefusedError).message).toBe(expected.message);
    expect((refusal as ConnectRefusedError).data).toEqual(expected.data);
    expect((refusal as ConnectRefusedError).data).toMatchObject({ code: "TOKEN_INVALID" });
  });

  it("gets the same ack envelopes as socket.io-client for a valid, an invalid and an unknown event", async () => {
    const token = await tokenFor("wire-bob");
    const sio = await connected(app.url, token);
    const client = await wire(app.url, { token });

    const refreshed = await client.emitWithAck("auth:refresh", { token });
    expect(refreshed).toEqual(await request(sio, "auth:refresh", { token }));
    expect(refreshed).toMatchObject({ ok: true, data: { exp: expect.any(Number) } });

    const invalid = await client.emitWithAck("auth:refresh", { token: 42 });
    expect(invalid).toEqual(await request(sio, "auth:refresh", { token: 42 } as never));
    expect(invalid).toMatchObject({ ok: false, error: { code: "INVALID_PAYLOAD" } });

    const unknown = await client.emitWithAck("no:such-event", {});
    expect(unknown).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
  });
});

describe("wire client against the baseline server", () => {
  let redis: RedisServer;
  let baseline: BenchServer;

  beforeAll(async () => {
    redis = await startRedis();
    // A short heartbeat so that a client that does not answer pings is dropped within the test.
    baseline = await BenchServer.start("baseline", {
      redisUrl: redis.url,
      env: { PING_INTERVAL_MS: "100", PING_TIMEOUT_MS: "150" },
    });
  });
  afterAll(async () => {
    await baseline?.stop();
    await redis?.destroy();
  });

  it("receives a room broadcast exactly as socket.io-client does, and its ack carries the same message", async () => {
    const sio = await connected(baseline.url, "unused", { auth: { token: "unused", userId: "sio-user" } });
    const client = await wire(baseline.url, { token: "unused", userId: "wire-user" });
    expect(await request(sio, "chat:join", { roomId: "bench:r1" })).toMatchObject({ ok: true });
    expect(await client.emitWithAck("chat:join", { roomId: "bench:r1" })).toMatchObject({ ok: true });

    const seenByWire: unknown[] = [];
    client.on("chat:message", (message) => seenByWire.push(message));
    const seenBySio = nextEvent(sio, "chat:message");
    const ack = (await client.emitWithAck("chat:send", { roomId: "bench:r1", text: "b1:123:hello" })) as {
      ok: boolean;
      data: unknown;
    };
    const broadcast = await seenBySio;
    expect(broadcast).toMatchObject({ roomId: "bench:r1", senderId: "wire-user", text: "b1:123:hello" });
    expect(ack).toEqual({ ok: true, data: broadcast });
    await eventually(() => seenByWire.length === 1);
    expect(seenByWire[0]).toEqual(broadcast);

    // And the other way round: what socket.io-client sends reaches the wire client intact.
    const fromSio = await request(sio, "chat:send", { roomId: "bench:r1", text: "from sio" });
    await eventually(() => seenByWire.length === 2);
    expect(fromSio.ok && seenByWire[1]).toEqual(fromSio.ok && fromSio.data);
  });

  it("hands event frames undecoded to onRawEvent and acks to onRawAck by id", async () => {
    const client = await wire(baseline.url, { token: "unused", userId: "raw-user" });
    await client.emitWithAck("chat:join", { roomId: "bench:raw" });
    const frames: string[] = [];
    const acks: [number, string][] = [];
    client.onRawEvent = (frame) => frames.push(frame.toString("utf8"));
    client.onRawAck = (id, frame) => acks.push([id, frame.toString("utf8")]);
    const id = client.sendRaw('["chat:send",{"roomId":"bench:raw","text":"b7:99:x"}]');
    await eventually(() => frames.length === 1 && acks.length === 1);
    const frame = frames[0] as string;
    expect(frame.startsWith('42["chat:message",{')).toBe(true);
    const [event, message] = JSON.parse(frame.slice(2)) as [string, { text: string }];
    expect(event).toBe("chat:message");
    expect(message.text).toBe("b7:99:x");
    const [ackId, ackFrame] = acks[0] ?? [-1, ""];
    expect(ackId).toBe(id);
    expect(JSON.parse(ackFrame.slice(2 + String(id).length))).toEqual([{ ok: true, data: message }]);
  });

  it("answers pings, so the server keeps the connection past pingInterval + pingTimeout", async () => {
    const client = await wire(baseline.url, { token: "unused", userId: "ping-user" });
    expect(client.handshake).toMatchObject({ pingInterval: 100, pingTimeout: 150 });
    await eventually(() => client.pingsAnswered >= 4, 3000);
    expect(client.closed).toBe(false);
    // Still usable after several heartbeats.
    expect(await client.emitWithAck("chat:join", { roomId: "bench:ping" })).toMatchObject({ ok: true });
  });
});
