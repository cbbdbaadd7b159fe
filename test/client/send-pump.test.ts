import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RealtimeError } from "../../packages/client/src/errors.js";
import { Requests } from "../../packages/client/src/requests.js";
import { SendPump } from "../../packages/client/src/send-pump.js";
import type { Message } from "../../src/protocol/index.js";
import { FakeTransport, type SentRequest } from "./fake-transport.js";

const ROOM = "team:core";

function setup() {
  const transport = new FakeTransport();
  transport.connected = true;
  const requests = new Requests({ transport, timeoutMs: 1000 });
  const ready = new Set<string>([ROOM]);
  const stored: Message[] = [];
  const pump = new SendPump({
    request: requests.request,
    isConnected: () => transport.connected,
    now: () => Date.now(),
    timeoutMs: 10_000,
    isReady: (roomId) => ready.has(roomId),
    onStored: (message) => stored.push(message),
  });
  let seq = 0;
  /** The server's answer to a chat:send: the stored message. */
  const store = (sent: SentRequest): Message => {
    const { roomId, text, clientMsgId } = sent.payload as {
      roomId: string;
      text: string;
      clientMsgId: string;
    };
    seq += 1;
    const message = {
      id: `${seq}-${seq}`,
      roomId,
      seq,
      epoch: "e1",
      senderId: "alice",
      text,
      clientMsgId,
      createdAt: 0,
    };
    transport.ok(sent, message);
    return message;
  };
  /** The connection drops and comes back. */
  const reconnect = () => {
    transport.drop();
    requests.disconnected(new RealtimeError("DISCONNECTED", "lost"));
    pump.disconnected();
    transport.connected = true;
    requests.connected();
  };
  return { transport, pump, ready, stored, store, reconnect };
}

/** Let promise continuations run (the pump awaits each answer). */
const settle = () => vi.advanceTimersByTimeAsync(0);

describe("SendPump (the outbox of retried sends)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends a room's messages one at a time, in order, and hands each stored message on", async () => {
    const { transport, pump, stored, store } = setup();
    const first = pump.send(ROOM, "one");
    const second = pump.send(ROOM, "two");
    expect(transport.pending("chat:send")).toHaveLength(1);
    const one = store(transport.next("chat:send"));
    await settle();
    const two = store(transport.next("chat:send"));
    await expect(first).resolves.toEqual(one);
    await expect(second).resolves.toEqual(two);
    expect(stored.map((m) => m.text)).toEqual(["one", "two"]);
  });

  it("waits while the room is not ready and sends once it is pumped", async () => {
    const { transport, pump, ready, store } = setup();
    ready.delete(ROOM);
    const sending = pump.send(ROOM, "later");
    await settle();
    expect(transport.pending("chat:send")).toEqual([]);
    ready.add(ROOM);
    void pump.pump(ROOM);
    store(transport.next("chat:send"));
    await expect(sending).resolves.toMatchObject({ text: "later" });
  });

  it("sends again with the same clientMsgId after the connection dropped", async () => {
    const { transport, pump, store, reconnect } = setup();
    const sending = pump.send(ROOM, "maybe stored", "cid-1");
    expect(transport.next("chat:send").payload).toMatchObject({ clientMsgId: "cid-1" });
    reconnect();
    await settle();
    void pump.pump(ROOM);
    const retry = transport.next("chat:send");
    expect(retry.payload).toEqual({ roomId: ROOM, text: "maybe stored", clientMsgId: "cid-1" });
    store(retry);
    await expect(sending).resolves.toMatchObject({ clientMsgId: "cid-1" });
  });

  it("sends again with the same clientMsgId when an answer does not come in time", async () => {
    const { transport, pump, store } = setup();
    const sending = pump.send(ROOM, "slow answer", "cid-2");
    await vi.advanceTimersByTimeAsync(1000); // the request's ack timeout
    const [first, retry] = transport.sent.filter((s) => s.event === "chat:send");
    expect(first?.payload).toEqual(retry?.payload);
    expect(retry?.payload).toMatchObject({ clientMsgId: "cid-2" });
    if (retry) store(retry);
    await expect(sending).resolves.toMatchObject({ clientMsgId: "cid-2" });
  });

  it("retries after RATE_LIMITED once retryAfterMs has passed", async () => {
    const { transport, pump, store } = setup();
    const sending = pump.send(ROOM, "hurry");
    transport.reply(transport.next("chat:send"), {
      ok: false,
      error: { code: "RATE_LIMITED", message: "slow down", retryAfterMs: 700 },
    });
    await vi.advanceTimersByTimeAsync(600);
    expect(transport.pending("chat:send")).toEqual([]);
    await vi.advanceTimersByTimeAsync(200);
    store(transport.next("chat:send"));
    await expect(sending).resolves.toMatchObject({ text: "hurry" });
  });

  it("rejects a send the server refuses for what it is, and goes on with the next", async () => {
    const { transport, pump, store } = setup();
    const refused = pump.send(ROOM, "   ");
    const next = pump.send(ROOM, "fine");
    transport.reply(transport.next("chat:send"), {
      ok: false,
      error: { code: "INVALID_PAYLOAD", message: "text is empty" },
    });
    await expect(refused).rejects.toMatchObject({ code: "INVALID_PAYLOAD" });
    await settle();
    store(transport.next("chat:send"));
    await expect(next).resolves.toMatchObject({ text: "fine" });
  });

  it("gives up with TIMEOUT after the deadline, and rejects everything once closed", async () => {
    const { transport, pump } = setup();
    transport.connected = false;
    const never = pump.send(ROOM, "offline for too long");
    const timedOut = never.catch((err: unknown) => err);
    await vi.advanceTimersByTimeAsync(10_001);
    expect(await timedOut).toMatchObject({ code: "TIMEOUT" });

    const pending = pump.send(ROOM, "pending");
    pump.close(new RealtimeError("DISCONNECTED", "closed"));
    await expect(pending).rejects.toMatchObject({ code: "DISCONNECTED" });
    await expect(pump.send(ROOM, "after close")).rejects.toMatchObject({ code: "DISCONNECTED" });
  });
});
