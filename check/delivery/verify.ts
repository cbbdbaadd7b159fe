import type { Inbox } from "./inbox.js";
import type { Publish } from "./notifier.js";
import type { SentMessage } from "./sender.js";
import type { RoomLog, StoredMessage } from "./stream.js";
import type { ReceiverKind, ReceiverRecord, RoomView } from "./view.js";

export const VIOLATION_KINDS = [
  "acked-not-stored",
  "stored-twice",
  "ack-differs",
  "stream-seq-broken",
  "missing",
  "out-of-order",
  "duplicate",
  "unknown-message",
  "wrong-seq",
  "out-of-order-arrival",
  "notification-duplicate",
  "notification-missing",
  "notification-id-differs",
  "unread-count",
  "state-differs",
  "model-differs",
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  kind: ViolationKind;
  /** The kind of receiver that saw it, for violations of a receiver's view. */
  receiver?: ReceiverKind;
  /** Messages (or notifications) it concerns. */
  count: number;
  detail: string;
}

const violation = (kind: ViolationKind, detail: string, count = 1): Violation => ({ kind, count, detail });

/** Every acknowledged message is in its room's stream exactly once, as the ack said; the stream's seq has no hole. */
export function verifyStorage(
  logs: RoomLog[],
  sent: SentMessage[],
): { violations: Violation[]; storedUnacked: number } {
  const violations: Violation[] = [];
  const stored = new Map<string, StoredMessage[]>();
  for (const log of logs) {
    for (const m of log.messages) {
      if (m.clientMsgId === undefined) continue;
      const key = `${log.roomId}|${m.senderId}|${m.clientMsgId}`;
      stored.set(key, [...(stored.get(key) ?? []), m]);
    }
    violations.push(...verifySequence(log));
  }
  let storedUnacked = 0;
  for (const s of sent) {
    const copies = stored.get(`${s.roomId}|${s.senderId}|${s.clientMsgId}`) ?? [];
    if (copies.length > 1)
      violations.push(
        violation("stored-twice", `${s.clientMsgId} in ${s.roomId}: ${copies.map((m) => m.id).join(", ")}`),
      );
    if (s.noop && copies.length > 0) {
      violations.push(
        violation(
          "ack-differs",
          `${s.clientMsgId}: answered as changing nothing, stored as ${copies[0]?.id}`,
        ),
      );
    } else if (!s.acked) {
      if (copies.length > 0) storedUnacked += 1;
    } else if (copies.length === 0) {
      violations.push(
        violation("acked-not-stored", `${s.clientMsgId} in ${s.roomId}, acked as ${s.acked.id}`),
      );
    } else if (copies[0]?.id !== s.acked.id) {
      violations.push(
        violation("ack-differs", `${s.clientMsgId}: acked as ${s.acked.id}, stored as ${copies[0]?.id}`),
      );
    }
  }
  return { violations, storedUnacked };
}

/** Where the stream has seq: 1, 2, 3, … without a hole, ending at `meta.seq`. */
function verifySequence(log: RoomLog): Violation[] {
  const out: Violation[] = [];
  let previous: StoredMessage | undefined;
  for (const m of log.messages) {
    if (m.seq === undefined) return [];
    if (previous?.seq !== undefined && m.seq !== previous.seq + 1)
      out.push(violation("stream-seq-broken", `${log.roomId}: seq ${m.seq} follows ${previous.seq}`));
    previous = m;
  }
  if (previous?.seq !== undefined && log.lastSeq !== previous.seq)
    out.push(
      violation("stream-seq-broken", `${log.roomId}: meta.seq ${log.lastSeq}, last entry ${previous.seq}`),
    );
  return out;
}

export interface ViewTotals {
  violations: Violation[];
  /** Messages handed to receivers and checked against the stream. */
  deliveries: number;
  announcedGaps: number;
  /** Messages the announced gaps skipped. */
  announcedSkipped: number;
  /** Messages of an epoch the stream no longer holds (counted, not checked). */
  oldEpoch: number;
}

/**
 * Every receiver's view of every room equals the stream, in order: each message once,
 * no message after a later one within a stretch between announced gaps, and every stream
 * message either handed or inside a gap the receiver was told about.
 */
export function verifyViews(logs: Map<string, RoomLog>, receivers: ReceiverRecord[]): ViewTotals {
  const totals: ViewTotals = {
    violations: [],
    deliveries: 0,
    announcedGaps: 0,
    announcedSkipped: 0,
    oldEpoch: 0,
  };
  for (const receiver of receivers) {
    const from = totals.violations.length;
    for (const view of receiver.views.values()) {
      const log = logs.get(view.roomId);
      if (log) checkView(`${receiver.name} ${view.roomId}`, view, log, totals);
    }
    for (const a of receiver.anomalies) {
      totals.violations.push(
        violation("out-of-order-arrival", `${receiver.name} ${a.roomId}: ${a.id} arrived after ${a.after}`),
      );
    }
    for (const v of totals.violations.slice(from)) v.receiver = receiver.kind;
  }
  return totals;
}

function checkView(where: string, view: RoomView, log: RoomLog, totals: ViewTotals): void {
  const n = log.messages.length;
  const position = new Map(log.messages.map((m, i) => [m.id, i]));
  const covered = new Uint8Array(n);
  const seen = new Set<string>();
  let stretchMax = -1;
  let overallMax = -1;
  let gapPending = false;
  for (const entry of view.entries) {
    if (entry.kind === "gap") {
      totals.announcedGaps += 1;
      gapPending = true;
      stretchMax = -1;
      continue;
    }
    const m = entry.message;
    if (m.epoch !== undefined && log.epoch !== undefined && m.epoch !== log.epoch) {
      totals.oldEpoch += 1;
      continue;
    }
    const p = position.get(m.id);
    if (p === undefined) {
      totals.violations.push(violation("unknown-message", `${where}: ${m.id} is not in the stream`));
      continue;
    }
    totals.deliveries += 1;
    const stored = log.messages[p] as StoredMessage;
    if (stored.seq !== undefined && (m.seq !== stored.seq || m.epoch !== log.epoch)) {
      totals.violations.push(
        violation(
          "wrong-seq",
          `${where}: ${m.id} came as seq ${m.seq}/${m.epoch}, stored ${stored.seq}/${log.epoch}`,
        ),
      );
    }
    if (seen.has(m.id)) {
      totals.violations.push(violation("duplicate", `${where}: ${m.id} handed again`));
      continue;
    }
    seen.add(m.id);
    if (gapPending) {
      for (let q = overallMax + 1; q < p; q++) {
        if (!covered[q]) totals.announcedSkipped += 1;
        covered[q] = 2;
      }
      gapPending = false;
    }
    if (p < stretchMax) {
      const later = log.messages[stretchMax]?.id;
      totals.violations.push(violation("out-of-order", `${where}: ${m.id} handed after ${later}`));
    }
    stretchMax = Math.max(stretchMax, p);
    overallMax = Math.max(overallMax, p);
    covered[p] = 1;
  }
  for (const [from, to] of missingRanges(covered)) {
    const first = log.messages[from]?.id;
    const last = log.messages[to]?.id;
    const range = from === to ? `${first}` : `${first} .. ${last}`;
    const context = from > 0 ? ` (after ${log.messages[from - 1]?.id})` : "";
    totals.violations.push(violation("missing", `${where}: never got ${range}${context}`, to - from + 1));
  }
}

/** Runs of positions neither handed nor announced, as inclusive [from, to]. */
function missingRanges(covered: Uint8Array): [number, number][] {
  const ranges: [number, number][] = [];
  let start = -1;
  for (let i = 0; i <= covered.length; i++) {
    const missing = i < covered.length && covered[i] === 0;
    if (missing && start < 0) start = i;
    if (!missing && start >= 0) {
      ranges.push([start, i - 1]);
      start = -1;
    }
  }
  return ranges;
}

/** One inbox item per (user, idempotency key), with the id the 202 answered; unread = distinct keys. */
export function verifyNotifications(publishes: Publish[], inboxes: Map<string, Inbox>): Violation[] {
  const out: Violation[] = [];
  const byUserKey = new Map<string, string[]>();
  for (const [userId, inbox] of inboxes) {
    const keys = new Set<string>();
    for (const item of inbox.items) {
      const key = item.data?.key;
      if (typeof key !== "string") continue;
      keys.add(key);
      const at = `${userId}|${key}`;
      byUserKey.set(at, [...(byUserKey.get(at) ?? []), item.id]);
    }
    if (inbox.unreadCount !== keys.size)
      out.push(
        violation(
          "unread-count",
          `${userId}: unread ${inbox.unreadCount}, distinct notifications ${keys.size}`,
        ),
      );
  }
  for (const p of publishes) {
    for (const userId of p.userIds) {
      const ids = byUserKey.get(`${userId}|${p.key}`) ?? [];
      const answered = p.acked?.get(userId);
      if (ids.length > 1)
        out.push(
          violation("notification-duplicate", `${userId} ${p.key}: ${ids.join(", ")}`, ids.length - 1),
        );
      else if (ids.length === 0 && answered !== undefined)
        out.push(
          violation("notification-missing", `${userId} ${p.key}: answered ${answered}, not in the inbox`),
        );
      else if (ids.length === 1 && answered !== undefined && ids[0] !== answered)
        out.push(
          violation("notification-id-differs", `${userId} ${p.key}: answered ${answered}, stored ${ids[0]}`),
        );
    }
  }
  return out;
}
