import { once } from "node:events";
import { type AddressInfo, createConnection, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { foldLog, verifyShown } from "../../check/delivery/changes.js";
import { FAULT_KINDS } from "../../check/delivery/faults.js";
import type { Inbox } from "../../check/delivery/inbox.js";
import type { Publish } from "../../check/delivery/notifier.js";
import { SIZES } from "../../check/delivery/options.js";
import { RawRoomRule } from "../../check/delivery/raw-rule.js";
import { formatJournal, formatReport, summarizeViolations } from "../../check/delivery/report.js";
import { runDeliveryCheck } from "../../check/delivery/run.js";
import type { SentMessage } from "../../check/delivery/sender.js";
import { parseStreamEntry, type RoomLog } from "../../check/delivery/stream.js";
import { verifyNotifications, verifyStorage, verifyViews } from "../../check/delivery/verify.js";
import { type ArrivalAnomaly, type ReceiverRecord, RoomView } from "../../check/delivery/view.js";
import type { WireJoinResult, WireMessage } from "../../check/delivery/wire.js";
import { eventually } from "../helpers/client.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";

/**
 * The fault-injecting delivery checker (`npm run check:delivery`, docs/reliability.md):
 * its quick size end to end, and the parts whose mistakes would hide a violation.
 */

describe("the delivery checker, quick size", () => {
  it("finds every acked message stored once, every receiver's view equal to the stream and one inbox item per key, under every fault kind", async () => {
    const seed = Number(process.env.DELIVERY_CHECK_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const report = await runDeliveryCheck({ size: SIZES.quick, seed, faults: [...FAULT_KINDS] }, () => {});
    const text = `${formatJournal(report)}\n${formatReport(report)}`;
    expect(summarizeViolations(report.violations), text).toEqual([]);
    for (const kind of FAULT_KINDS)
      expect(report.faults[kind], `${kind} never injected\n${text}`).toBeGreaterThan(0);
    expect(report.messages.acked, text).toBeGreaterThan(500);
    expect(report.deliveries.raw, text).toBeGreaterThan(0);
    expect(report.deliveries.sdk, text).toBeGreaterThan(0);
    expect(report.notifications.acked, text).toBeGreaterThan(0);
    // Edits, deletes and reactions went through the same faults, and every reader's state was compared.
    expect(report.changes.stored, text).toBeGreaterThan(50);
    expect(report.changes.statesChecked, text).toBeGreaterThan(500);
    expect(report.changes.modelsChecked, text).toBeGreaterThan(0);
  }, 150_000);
});

const ROOM = "check:room";

/** A room log of `n` messages with ids `<n>-0` (the layout without seq). */
function logOf(n: number): RoomLog {
  const messages = Array.from({ length: n }, (_, i) =>
    parseStreamEntry(`${1000 + i}-0`, ["u", "s", "m", JSON.stringify({ text: "t", clientMsgId: `c${i}` })]),
  );
  return { roomId: ROOM, messages };
}

/** A receiver whose view of the room is `script`: numbers are log positions, "gap" an announced gap. */
function receiverSeeing(
  log: RoomLog,
  script: (number | "gap")[],
  kind: "raw" | "sdk" = "sdk",
): ReceiverRecord {
  const view = new RoomView(ROOM);
  for (const step of script) {
    if (step === "gap") view.gap("test");
    else {
      const stored = log.messages[step];
      if (!stored) throw new Error(`no message at ${step}`);
      view.hand({ id: stored.id, roomId: ROOM, senderId: "s", text: "t", createdAt: 0 });
    }
  }
  return {
    name: "r",
    kind,
    userId: "r",
    views: new Map([[ROOM, view]]),
    anomalies: [],
    reconnects: 0,
    notRecovered: 0,
  };
}

const kindsOf = (violations: { kind: string; count: number }[]) =>
  violations.map((v) => `${v.kind}:${v.count}`).sort();

describe("the checker's verification", () => {
  it("accepts a view equal to the stream, in order", () => {
    const log = logOf(4);
    const totals = verifyViews(new Map([[ROOM, log]]), [receiverSeeing(log, [0, 1, 2, 3])]);
    expect(totals.violations).toEqual([]);
    expect(totals.deliveries).toBe(4);
  });

  it("reports a silent gap, a message handed after a later one, a repeat and a missing tail", () => {
    const log = logOf(6);
    const totals = verifyViews(new Map([[ROOM, log]]), [receiverSeeing(log, [0, 2, 1, 2, 3])]);
    expect(kindsOf(totals.violations)).toEqual(["duplicate:1", "missing:2", "out-of-order:1"]);
  });

  it("accepts what an announced gap skipped, and only that", () => {
    const log = logOf(8);
    const totals = verifyViews(new Map([[ROOM, log]]), [receiverSeeing(log, [0, 1, "gap", 4, 5, 7])]);
    expect(kindsOf(totals.violations)).toEqual(["missing:1"]);
    expect(totals.announcedSkipped).toBe(2);
    expect(totals.announcedGaps).toBe(1);
  });

  it("reports an acked message missing from the stream, stored twice, or acked with another id", () => {
    const log = logOf(3);
    log.messages.push({ ...(log.messages[1] as (typeof log.messages)[number]), id: "2000-0" });
    const sent = (clientMsgId: string, ackedId?: string): SentMessage => ({
      clientMsgId,
      roomId: ROOM,
      senderId: "s",
      attempts: 1,
      ...(ackedId ? { acked: { id: ackedId, roomId: ROOM, senderId: "s", text: "t", createdAt: 0 } } : {}),
    });
    const { violations, storedUnacked } = verifyStorage(
      [log],
      [sent("c0", "1000-0"), sent("c1", "1001-0"), sent("c2", "1009-0"), sent("c9", "1005-0"), sent("c8")],
    );
    expect(kindsOf(violations)).toEqual(["ack-differs:1", "acked-not-stored:1", "stored-twice:1"]);
    expect(storedUnacked).toBe(0);
  });

  it("reads both stream layouts: <seq>-0 with t, and the message id as entry id", () => {
    expect(parseStreamEntry("7-0", ["u", "ann", "t", "1700", "m", '{"clientMsgId":"x"}'])).toEqual({
      id: "1700-7",
      seq: 7,
      senderId: "ann",
      clientMsgId: "x",
    });
    expect(parseStreamEntry("1700-3", ["u", "ann", "m", "{}"])).toEqual({ id: "1700-3", senderId: "ann" });
  });

  it("reports a seq hole in the stream and a delivered seq that differs from the stored one", () => {
    const messages = [1, 2, 4].map((seq) => parseStreamEntry(`${seq}-0`, ["u", "s", "t", "5", "m", "{}"]));
    const log: RoomLog = { roomId: ROOM, messages, epoch: "e1", lastSeq: 4 };
    expect(kindsOf(verifyStorage([log], []).violations)).toEqual(["stream-seq-broken:1"]);
    const view = new RoomView(ROOM);
    for (const [i, m] of messages.entries())
      view.hand({ id: m.id, roomId: ROOM, senderId: "s", text: "t", createdAt: 0, seq: i + 1, epoch: "e1" });
    const receiver: ReceiverRecord = { ...receiverSeeing(log, []), views: new Map([[ROOM, view]]) };
    expect(kindsOf(verifyViews(new Map([[ROOM, log]]), [receiver]).violations)).toEqual(["wrong-seq:1"]);
  });

  it("reports two inbox items for one key, an answered key with none, and an unread count above the keys", () => {
    const publish = (key: string, userId: string, id: string): Publish => ({
      key,
      userIds: [userId],
      attempts: 1,
      statuses: [202],
      acked: new Map([[userId, id]]),
    });
    const item = (key: string, id: string) => ({
      id,
      type: "t",
      title: "t",
      data: { key },
      createdAt: 0,
      readAt: null,
    });
    const inboxes = new Map<string, Inbox>([
      ["u1", { items: [item("k1", "1-0"), item("k1", "2-0")], unreadCount: 2 }],
      ["u2", { items: [], unreadCount: 0 }],
    ]);
    const violations = verifyNotifications([publish("k1", "u1", "1-0"), publish("k2", "u2", "3-0")], inboxes);
    expect(kindsOf(violations)).toEqual([
      "notification-duplicate:1",
      "notification-missing:1",
      "unread-count:1",
    ]);
  });
});

/** Message `seq` of the room in epoch `epoch`. */
const msg = (seq: number, epoch = "e1"): WireMessage => ({
  id: `${1000 + seq}-${seq}`,
  roomId: ROOM,
  senderId: "s",
  text: "t",
  createdAt: 0,
  seq,
  epoch,
});
const answer = (messages: WireMessage[], extra: Partial<WireJoinResult> = {}): WireJoinResult => ({
  roomId: ROOM,
  messages,
  hasMore: false,
  online: [],
  lastReadId: null,
  unread: 0,
  mentions: 0,
  live: true,
  ...extra,
});

function rawRoom() {
  const view = new RoomView(ROOM);
  const anomalies: ArrivalAnomaly[] = [];
  const rule = new RawRoomRule(view, anomalies);
  const seqs = () => view.entries.map((e) => (e.kind === "gap" ? e.reason : e.message.seq));
  return { rule, view, anomalies, seqs };
}

describe("the checker's fold of edits, deletes and reactions", () => {
  /** A log of entries given as [kind?, target position?, extra]: stream entries with seq. */
  const entry = (seq: number, body: Record<string, unknown>, senderId = "s") =>
    parseStreamEntry(`${seq}-0`, [
      "u",
      senderId,
      "t",
      String(1000 + seq),
      "m",
      JSON.stringify({ text: "", ...body }),
    ]);
  const idOf = (seq: number) => `${1000 + seq}-${seq}`;
  const log: RoomLog = {
    roomId: ROOM,
    messages: [
      entry(1, { text: "one" }),
      entry(2, { text: "two" }),
      entry(3, { kind: "edit", target: idOf(1), text: "one, edited" }),
      entry(4, { kind: "reaction", target: idOf(1), emoji: "👍", on: true }, "a"),
      entry(5, { kind: "reaction", target: idOf(1), emoji: "🎉", on: true }, "b"),
      entry(6, { kind: "reaction", target: idOf(1), emoji: "👍", on: false }, "a"),
      entry(7, { kind: "reaction", target: idOf(1), emoji: "👍", on: true }, "c"),
      entry(8, { kind: "delete", target: idOf(2) }),
    ],
  };
  const shown = (seq: number, extra: Partial<WireMessage>): WireMessage => ({
    id: idOf(seq),
    roomId: ROOM,
    senderId: "s",
    createdAt: 0,
    seq,
    text: "",
    ...extra,
  });

  it("passes a reader that shows the stream folded, and names each way one can differ", () => {
    const folded = foldLog(log);
    const right = [
      shown(1, {
        text: "one, edited",
        rev: 7,
        reactions: [
          { emoji: "🎉", count: 1, users: ["b"] },
          { emoji: "👍", count: 1, users: ["c"] },
        ],
      }),
      shown(2, { deleted: true, rev: 8 }),
    ];
    expect(verifyShown("r", folded, right, "state-differs")).toEqual([]);
    const wrong = [
      { ...right[0], text: "one" },
      { ...right[0], rev: 6 },
      { ...right[0], reactions: [{ emoji: "👍", count: 1, users: ["c"] }] },
      { ...right[1], deleted: undefined, text: "two" },
    ] as WireMessage[];
    for (const m of wrong) expect(verifyShown("r", folded, [m], "model-differs")).toHaveLength(1);
  });
});

describe("the raw receivers' rule", () => {
  it("applies the answer and live messages, and joins again with sinceSeq and epoch of the last one", () => {
    const { rule, seqs } = rawRoom();
    expect(rule.joinPayload()).toEqual({ roomId: ROOM });
    rule.joining = true;
    expect(rule.onAnswer({ roomId: ROOM }, answer([msg(1), msg(2)]))).toBe("live");
    rule.onMessage(msg(3));
    expect(seqs()).toEqual([1, 2, 3]);
    expect(rule.joinPayload()).toEqual({ roomId: ROOM, sinceSeq: 3, epoch: "e1" });
  });

  it("drops a repeat quietly and notes a lower message it never had as an out-of-order arrival", () => {
    const { rule, seqs, anomalies } = rawRoom();
    rule.onMessage(msg(1));
    rule.onMessage(msg(3));
    rule.onMessage(msg(3));
    rule.onMessage(msg(2));
    expect(seqs()).toEqual([1, 3]);
    expect(anomalies.map((a) => [a.id, a.after])).toEqual([[msg(2).id, msg(3).id]]);
  });

  it("holds live messages until the join's answer, and joins again from the answer's last message while live is false", () => {
    const { rule, seqs } = rawRoom();
    rule.onMessage(msg(1));
    rule.joining = true;
    rule.onMessage(msg(4));
    const first = rule.joinPayload();
    expect(rule.onAnswer(first, answer([msg(2)], { live: false, recovered: true }))).toBe("again");
    expect(rule.joinPayload()).toEqual({ roomId: ROOM, sinceSeq: 2, epoch: "e1" });
    expect(rule.onAnswer(rule.joinPayload(), answer([msg(3)], { recovered: true }))).toBe("live");
    expect(seqs()).toEqual([1, 2, 3, 4]);
  });

  it("marks recovered:false and a new epoch as gaps, and joins without a cursor after a new epoch", () => {
    const { rule, seqs } = rawRoom();
    rule.onMessage(msg(1));
    rule.joining = true;
    expect(rule.onAnswer(rule.joinPayload(), answer([msg(7), msg(8)], { recovered: false }))).toBe("live");
    expect(rule.onMessage(msg(1, "e2"))).toBe("rejoin");
    expect(rule.joinPayload()).toEqual({ roomId: ROOM });
    expect(rule.onAnswer({ roomId: ROOM }, answer([msg(1, "e2")]))).toBe("live");
    expect(seqs()).toEqual([1, "recovered:false", 7, 8, "epoch", 1]);
    expect(rule.notRecovered).toBe(1);
  });

  it("uses the message id as the cursor when messages carry no seq", () => {
    const { rule, seqs, anomalies } = rawRoom();
    const plain = (id: string): WireMessage => ({ id, roomId: ROOM, senderId: "s", text: "t", createdAt: 0 });
    rule.onMessage(plain("1000-0"));
    rule.onMessage(plain("1002-0"));
    rule.onMessage(plain("1001-0"));
    expect(rule.joinPayload()).toEqual({ roomId: ROOM, since: "1002-0" });
    expect(seqs()).toEqual([undefined, undefined]);
    expect(anomalies).toHaveLength(1);
  });
});

describe("the checker's TCP proxy", () => {
  let echo: Server | undefined;
  let proxy: TcpProxy | undefined;
  const clients: Socket[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await proxy?.stop();
    await new Promise<void>((resolve) => (echo ? echo.close(() => resolve()) : resolve()));
  });

  /** An echo server behind a proxy that tags each connection by the first word it sends. */
  async function echoBehindProxy(): Promise<TcpProxy> {
    echo = createServer((socket) => socket.pipe(socket));
    echo.listen(0, "127.0.0.1");
    await once(echo, "listening");
    const port = (echo.address() as AddressInfo).port;
    proxy = await new TcpProxy({ route: () => port, classify: (head) => /^(\w+) /.exec(head)?.[1] }).start();
    return proxy;
  }

  async function client(
    through: TcpProxy,
    hello: string,
  ): Promise<{ socket: Socket; received: () => string }> {
    const socket = createConnection({ host: "127.0.0.1", port: through.port });
    clients.push(socket);
    let text = "";
    socket.setEncoding("utf8").on("data", (chunk: string) => {
      text += chunk;
    });
    socket.on("error", () => {});
    await once(socket, "connect");
    socket.write(`${hello} `);
    await eventually(() => text === `${hello} `);
    return { socket, received: () => text };
  }

  it("holds a stalled link's bytes, in order, until released, and leaves other links alone", async () => {
    const through = await echoBehindProxy();
    const sub = await client(through, "sub");
    const cmd = await client(through, "cmd");
    through.shape("sub", { stalled: true });
    sub.socket.write("a");
    sub.socket.write("b");
    cmd.socket.write("x");
    await eventually(() => cmd.received() === "cmd x");
    expect(sub.received()).toBe("sub ");
    through.clear("sub");
    await eventually(() => sub.received() === "sub ab");
  });

  it("cuts only the connections of one tag", async () => {
    const through = await echoBehindProxy();
    const sub = await client(through, "sub");
    const cmd = await client(through, "cmd");
    expect(through.cut((c) => c.tag === "sub")).toBe(1);
    await once(sub.socket, "close");
    cmd.socket.write("y");
    await eventually(() => cmd.received() === "cmd y");
  });
});
