import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RealtimeError } from "../../packages/client/src/errors.js";
import { Requests } from "../../packages/client/src/requests.js";
import { RoomSync } from "../../packages/client/src/room-sync.js";
import type { GapEvent, RejoinEvent } from "../../packages/client/src/types.js";
import type { Message } from "../../src/protocol/index.js";
import { FakeChatServer } from "./fake-chat-server.js";
import { FakeTransport } from "./fake-transport.js";

const ROOM = "team:core";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function setup() {
  const transport = new FakeTransport();
  transport.connected = true;
  const requests = new Requests({ transport, timeoutMs: 5000 });
  let connection = 1;
  const delivered: Message[] = [];
  const rejoins: RejoinEvent[] = [];
  const errors: RealtimeError[] = [];
  const refused: string[] = [];
  const gaps: GapEvent[] = [];
  const rooms = new RoomSync({
    request: requests.request,
    isConnected: () => transport.connected,
    connection: () => connection,
    joinTimeoutMs: 10_000,
    deliver: (message) => delivered.push(message),
    onRejoin: (event) => rejoins.push(event),
    onGap: (event) => gaps.push(event),
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
  /** The connection drops (what was in flight rejects before anything else happens). */
  const drop = async () => {
    transport.drop();
    requests.disconnected(new RealtimeError("DISCONNECTED", "lost"));
    await settle();
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
    gaps,
    errors,
    refused,
    settle,
    serve,
    drop,
    connectAgain,
    texts,
  };
}

/** Set up, with the room joined. */
async function joined() {
  const env = setup();
  const joining = env.rooms.join(ROOM);
  await env.serve();
  await joining;
  return env;
}

describe("RoomSync", () => {
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
    const { rooms, server, delivered, rejoins, serve, drop, connectAgain, texts } = await joined();
    rooms.live(server.post("m1"));
    await drop();
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
    const { rooms, server, delivered, rejoins, serve, drop, connectAgain } = await joined();
    rooms.live(server.post("first"));
    await drop();
    const missed = server.postMany(450);
    await connectAgain();
    await serve();
    expect(delivered.map((m) => m.id)).toEqual([server.log[0]?.id, ...missed.map((m) => m.id)]);
    expect(rejoins.map((r) => r.recovered)).toEqual([true]);
  });

  it("reports recovered: false with the newest page when its position is gone", async () => {
    const { rooms, server, delivered, rejoins, serve, drop, connectAgain, texts } = await joined();
    rooms.live(server.post("first"));
    await drop();
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
    await drop();
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

describe("RoomSync cursor and de-duplication", () => {
  it("does not move its cursor over live messages held during a recovering join that failed", async () => {
    const { transport, rooms, server, delivered, rejoins, serve, drop, connectAgain, texts } = await joined();
    rooms.live(server.post("m1"));
    await drop();
    server.post("m2");
    server.post("m3");
    await connectAgain();
    expect(transport.pending("chat:join")).toHaveLength(1);
    // Live while the recovering join is in flight: held...
    rooms.live(server.post("m4"));
    // ...and the connection drops before the answer (which carried m2 and m3) arrives.
    await drop();
    await connectAgain();
    await serve();
    expect(texts(delivered)).toEqual(["m1", "m2", "m3", "m4"]);
    expect(rejoins.at(-1)).toMatchObject({ recovered: true });
  });

  it("hands the application each of 1,200 replayed live messages once", async () => {
    const { rooms, server, delivered, settle } = await joined();
    const burst = server.postMany(1200);
    for (const message of burst) rooms.live(message);
    // The same messages again (a relay catching up after an interruption, another instance).
    for (const message of burst) rooms.live(message);
    await settle();
    expect(delivered).toHaveLength(1200);
    expect(delivered.map((m) => m.id)).toEqual(burst.map((m) => m.id));
  });

  it("hands the application nothing twice when a join answer replays 1,200 messages it has", async () => {
    const { transport, rooms, server, delivered, serve, settle, drop, connectAgain } = await joined();
    const burst = server.postMany(1200);
    for (const message of burst) rooms.live(message);
    await drop();
    const missed = server.post("missed");
    await connectAgain();
    // An answer that starts further back than the cursor asked for.
    transport.ok(transport.next("chat:join"), {
      ...server.join({ roomId: ROOM }),
      messages: server.log,
      recovered: true,
    });
    await settle();
    await serve();
    expect(delivered.map((m) => m.id)).toEqual([...burst, missed].map((m) => m.id));
  });
});

describe("RoomSync by sequence", () => {
  it("rejoins with sinceSeq and epoch, and joins again from the last message while answers say live: false", async () => {
    const { transport, rooms, server, delivered, serve, drop, connectAgain } = await joined();
    rooms.live(server.post("first"));
    await drop();
    server.postMany(450);
    await connectAgain();
    await serve();
    const joins = transport.sent.filter((s) => s.event === "chat:join").map((s) => s.payload);
    expect(joins).toEqual([
      { roomId: ROOM },
      { roomId: ROOM, sinceSeq: 1, epoch: "e1" },
      { roomId: ROOM, sinceSeq: 201, epoch: "e1" },
      { roomId: ROOM, sinceSeq: 401, epoch: "e1" },
    ]);
    expect(transport.sent.filter((s) => s.event === "chat:history")).toEqual([]);
    expect(delivered.map((m) => m.seq)).toEqual(Array.from({ length: 451 }, (_, i) => i + 1));
  });

  it("drops a live message it already has, and hands on a send's ack only when it is the next one", async () => {
    const { transport, rooms, server, delivered, settle, texts } = await joined();
    const m1 = server.post("m1");
    const m2 = server.post("mine", "alice");
    rooms.stored(m2); // the ack beat m1: its live copy comes after m1
    expect(delivered).toEqual([]);
    rooms.live(m1);
    rooms.live(m2);
    rooms.live(m1); // again, from the instance it moved to
    const m3 = server.post("mine too", "alice");
    rooms.stored(m3);
    rooms.live(m3);
    await settle();
    expect(texts(delivered)).toEqual(["m1", "mine", "mine too"]);
    expect(transport.pending()).toEqual([]);
  });

  it("fills a hole in live delivery by joining again, then goes on in order", async () => {
    const { transport, rooms, server, delivered, rejoins, gaps, serve, texts } = await joined();
    rooms.live(server.post("m1"));
    server.post("m2"); // never arrives live
    rooms.live(server.post("m3"));
    expect(transport.next("chat:join").payload).toEqual({ roomId: ROOM, sinceSeq: 1, epoch: "e1" });
    rooms.live(server.post("m4")); // held while the join is in flight
    await serve();
    rooms.live(server.post("m5"));
    expect(texts(delivered)).toEqual(["m1", "m2", "m3", "m4", "m5"]);
    expect(gaps).toEqual([]);
    expect(rejoins).toEqual([]);
  });

  it("tries a refused fill again later, and a hole seen meanwhile waits for it", async () => {
    const { transport, rooms, server, delivered, serve, texts } = await joined();
    rooms.live(server.post("m1"));
    server.post("m2");
    rooms.live(server.post("m3"));
    transport.reply(transport.next("chat:join"), {
      ok: false,
      error: { code: "RATE_LIMITED", message: "slow down", retryAfterMs: 1500 },
    });
    await vi.advanceTimersByTimeAsync(0);
    rooms.live(server.post("m4")); // still after the hole: no join before the retry
    expect(transport.pending("chat:join")).toEqual([]);
    await vi.advanceTimersByTimeAsync(1500);
    await serve();
    expect(texts(delivered)).toEqual(["m1", "m2", "m3", "m4"]);
  });

  it("stops delivering a room left while it was being caught up", async () => {
    const { transport, rooms, server, delivered, serve, drop, connectAgain, texts } = await joined();
    rooms.live(server.post("m1"));
    await drop();
    server.postMany(300);
    await connectAgain();
    server.answer(transport); // the first answer: m2..m201, live: false
    await vi.advanceTimersByTimeAsync(0);
    rooms.forget(ROOM, new RealtimeError("NOT_IN_ROOM", "left"));
    await serve();
    rooms.live(server.post("late"));
    expect(delivered).toHaveLength(201);
    expect(texts(delivered).at(-1)).toBe("m201");
  });

  it("reports a hole it cannot fill as a trimmed gap, then the newest page", async () => {
    const { rooms, server, delivered, rejoins, gaps, serve, texts } = await joined();
    rooms.live(server.post("m1"));
    server.postMany(30); // m2..m31, never live
    server.trim(5);
    rooms.live(server.post("m32"));
    await serve();
    expect(gaps).toEqual([{ roomId: ROOM, epoch: "e1", reason: "trimmed", fromSeq: 2 }]);
    expect(rejoins).toHaveLength(1);
    expect(rejoins[0]).toMatchObject({ recovered: false });
    expect(texts(rejoins[0]?.messages ?? [])).toEqual(["m27", "m28", "m29", "m30", "m31", "m32"]);
    expect(texts(delivered)).toEqual(["m1", "m27", "m28", "m29", "m30", "m31", "m32"]);
  });

  it("hands nothing twice when a recovery from inside a lost range answers a page it partly holds", async () => {
    const { transport, rooms, server, delivered, gaps, rejoins, settle, drop, connectAgain, texts } =
      await joined();
    for (const message of server.postMany(9)) rooms.live(message);
    await drop();
    server.postMany(3); // m10..m12
    // A failover lost m8..m10: the log keeps m1..m7, m11, m12 and the recovery says so.
    const kept = server.log.filter((m) => m.seq <= 7 || m.seq >= 11);
    await connectAgain();
    transport.ok(transport.next("chat:join"), {
      ...server.join({ roomId: ROOM }),
      messages: kept.slice(-5),
      recovered: false,
    });
    await settle();
    expect(gaps).toEqual([{ roomId: ROOM, epoch: "e1", reason: "trimmed", fromSeq: 10 }]);
    expect(texts(delivered)).toEqual(["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m11", "m12"]);
    expect(rejoins.map((r) => [r.recovered, texts(r.messages)])).toEqual([[false, ["m11", "m12"]]]);
  });

  it("reports an epoch change in live delivery as a gap and continues in the new epoch", async () => {
    const { rooms, server, delivered, rejoins, gaps, serve, texts } = await joined();
    rooms.live(server.post("old1"));
    rooms.live(server.post("old2"));
    server.loseState("e2");
    const fresh = server.post("new1");
    rooms.live(fresh);
    await serve();
    rooms.live(server.post("new2"));
    expect(gaps).toEqual([{ roomId: ROOM, epoch: "e2", reason: "epoch" }]);
    expect(rejoins.map((r) => [r.recovered, texts(r.messages)])).toEqual([[false, ["new1"]]]);
    expect(texts(delivered)).toEqual(["old1", "old2", "new1", "new2"]);
    expect(delivered.map((m) => `${m.epoch}:${m.seq}`)).toEqual(["e1:1", "e1:2", "e2:1", "e2:2"]);
  });

  it("reports a gap when it reconnects to a room whose epoch changed or whose history moved past it", async () => {
    const { rooms, server, gaps, rejoins, serve, drop, connectAgain, texts } = await joined();
    rooms.live(server.post("m1"));
    await drop();
    server.loseState("e2");
    server.post("after loss");
    await connectAgain();
    await serve();
    expect(gaps).toEqual([{ roomId: ROOM, epoch: "e2", reason: "epoch" }]);
    expect(rejoins.map((r) => [r.recovered, texts(r.messages)])).toEqual([[false, ["after loss"]]]);

    await drop();
    server.postMany(20);
    server.trim(3);
    await connectAgain();
    await serve();
    expect(gaps[1]).toEqual({ roomId: ROOM, epoch: "e2", reason: "trimmed", fromSeq: 2 });
    expect(rejoins[1]?.recovered).toBe(false);
  });

  it("releases live messages held during the first join in order after its answer, each once", async () => {
    const { transport, rooms, server, delivered, settle, texts } = setup();
    server.postMany(2);
    const joining = rooms.join(ROOM);
    const request = transport.next("chat:join");
    const answer = server.join({ roomId: ROOM });
    const m3 = server.post("m3");
    const m4 = server.post("m4");
    rooms.live(m4);
    rooms.live(m3);
    rooms.live(server.log[1] as Message); // m2: also in the answer
    transport.ok(request, answer);
    const result = await joining;
    expect(texts(result.messages)).toEqual(["m1", "m2", "m3", "m4"]);
    rooms.live(server.post("m5"));
    await settle();
    expect(texts(delivered)).toEqual(["m5"]);
  });
});
