import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RealtimeError } from "../../src/client/errors.js";
import { Requests } from "../../src/client/requests.js";
import { RoomSync } from "../../src/client/room-sync.js";
import type { RejoinEvent } from "../../src/client/types.js";
import type { Message } from "../../src/protocol/index.js";
import { FakeChatServer } from "./fake-chat-server.js";
import { FakeTransport } from "./fake-transport.js";

const ROOM = "team:core";

function setup() {
  const transport = new FakeTransport();
  transport.connected = true;
  const requests = new Requests({ transport, timeoutMs: 5000 });
  let connection = 1;
  const delivered: Message[] = [];
  const rejoins: RejoinEvent[] = [];
  const errors: RealtimeError[] = [];
  const refused: string[] = [];
  const rooms = new RoomSync({
    request: requests.request,
    isConnected: () => transport.connected,
    connection: () => connection,
    joinTimeoutMs: 10_000,
    deliver: (message) => delivered.push(message),
    onRejoin: (event) => rejoins.push(event),
    onError: (error) => errors.push(error),
    onReady: () => {},
    onRefused: (roomId) => refused.push(roomId),
  });
  const server = new FakeChatServer(ROOM);

  /** Let promise continuations run. */
  const settle = () => vi.advanceTimersByTimeAsync(0);
  /** Answer the room's joins and history reads until the client asks for nothing more. */
  const serve = async () => {
    await settle();
    while (server.answer(transport) > 0) await settle();
  };
  const drop = () => {
    transport.drop();
    requests.disconnected(new RealtimeError("DISCONNECTED", "lost"));
  };
  /** A new connection: what the client does after every connect. */
  const connectAgain = async () => {
    connection += 1;
    transport.connected = true;
    requests.connected();
    void rooms.rejoinAll(connection);
    await settle();
  };
  const texts = (messages: readonly Message[]) => messages.map((m) => m.text);
  return {
    transport,
    rooms,
    server,
    delivered,
    rejoins,
    errors,
    refused,
    settle,
    serve,
    drop,
    connectAgain,
    texts,
  };
}

describe("RoomSync", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("answers a join with the newest page merged with live messages that beat the answer", async () => {
    const { transport, rooms, server, delivered, settle, texts } = setup();
    server.postMany(3);
    const joining = rooms.join(ROOM);
    const request = transport.next("chat:join");
    expect(request.payload).toEqual({ roomId: ROOM });
    const answer = server.join({ roomId: ROOM });
    // Stored and delivered live after the server read the page, before its answer arrived.
    rooms.live(server.post("m4"));
    transport.ok(request, answer);
    expect(texts((await joining).messages)).toEqual(["m1", "m2", "m3", "m4"]);
    expect(delivered).toEqual([]);
    rooms.live(server.post("m5"));
    rooms.live(server.log.at(-1) as Message);
    await settle();
    expect(texts(delivered)).toEqual(["m5"]);
  });

  it("rejoins after a reconnect from the last message and delivers what it missed, once", async () => {
    const { rooms, server, delivered, rejoins, serve, drop, connectAgain, texts } = setup();
    const joining = rooms.join(ROOM);
    await serve();
    await joining;
    rooms.live(server.post("m1"));
    drop();
    server.post("m2");
    server.post("m3");
    await connectAgain();
    await serve();
    expect(texts(delivered)).toEqual(["m1", "m2", "m3"]);
    expect(rejoins).toHaveLength(1);
    expect(rejoins[0]).toMatchObject({ roomId: ROOM, recovered: true });
    expect(texts(rejoins[0]?.messages ?? [])).toEqual(["m2", "m3"]);
  });

  it("catches up on more than one answer holds, in order, each once", async () => {
    const { rooms, server, delivered, rejoins, serve, drop, connectAgain } = setup();
    const joining = rooms.join(ROOM);
    await serve();
    await joining;
    rooms.live(server.post("first"));
    drop();
    const missed = server.postMany(450);
    await connectAgain();
    await serve();
    expect(delivered.map((m) => m.id)).toEqual([server.log[0]?.id, ...missed.map((m) => m.id)]);
    expect(rejoins.map((r) => r.recovered)).toEqual([true]);
  });

  it("reports recovered: false with the newest page when its position is gone", async () => {
    const { rooms, server, delivered, rejoins, serve, drop, connectAgain, texts } = setup();
    const joining = rooms.join(ROOM);
    await serve();
    await joining;
    rooms.live(server.post("first"));
    drop();
    server.postMany(100);
    server.trim(10);
    await connectAgain();
    await serve();
    expect(rejoins).toHaveLength(1);
    expect(rejoins[0]?.recovered).toBe(false);
    expect(texts(rejoins[0]?.messages ?? [])).toEqual(texts(server.log));
    expect(texts(delivered)).toEqual(["first", ...texts(server.log)]);
  });

  it("tries a join again after a retryable refusal, and forgets a room refused for good", async () => {
    const { transport, rooms, server, refused, settle, serve } = setup();
    const joining = rooms.join(ROOM);
    transport.reply(transport.next("chat:join"), {
      ok: false,
      error: { code: "RATE_LIMITED", message: "slow down", retryAfterMs: 800 },
    });
    await vi.advanceTimersByTimeAsync(700);
    expect(transport.pending("chat:join")).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    await serve();
    await expect(joining).resolves.toMatchObject({ roomId: ROOM });

    const secret = rooms.join("secret:vault");
    await settle();
    transport.reply(transport.next("chat:join"), { ok: false, error: { code: "FORBIDDEN", message: "no" } });
    await expect(secret).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(refused).toEqual(["secret:vault"]);
    expect(rooms.list()).toEqual([ROOM]);
    expect(server.log).toEqual([]);
  });

  it("keeps a join made while offline until the connection is up, within the join timeout", async () => {
    const { transport, rooms, serve, connectAgain, drop } = setup();
    drop();
    const joining = rooms.join(ROOM);
    const late = rooms.join("team:late");
    const lateSettled = late.catch((err: unknown) => err);
    expect(transport.pending()).toEqual([]);
    await connectAgain();
    await serve();
    await expect(joining).resolves.toMatchObject({ roomId: ROOM });
    // Nobody answers team:late: it gives up after the timeout and is not kept.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await lateSettled).toMatchObject({ code: "TIMEOUT" });
    expect(rooms.list()).toEqual([ROOM]);
  });
});
