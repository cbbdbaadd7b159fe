import { randomBytes } from "node:crypto";
import { AppError, type Message } from "../protocol/index.js";
import type { OutboxWriter } from "../webhooks/outbox.js";
import { applyChange, folded, type MessageState, subjectSeq } from "./log-state.js";
import { compareMessageIds } from "./message-id.js";
import {
  type AppendResult,
  type ChangeResult,
  type LogPage,
  MAX_REACTION_KINDS,
  type MarkReadResult,
  type MessageStore,
  type ReadState,
  type RecoveryPage,
  type RoomHead,
  type RoomSummary,
  SUMMARY_SCAN,
  type TargetLookup,
} from "./message-store.js";
import { bodyOf, messageOf } from "./record.js";

/**
 * The message store for running without REDIS_URL (development, one instance): the same
 * contract as the Redis store, state lost on restart. `publish` is the room feed of this
 * process, called in the same step as the append, as the Redis script publishes.
 */
export interface MemoryMessageStoreOptions {
  historyLimit: number;
  /** 0: no time-based retention. */
  retentionMs: number;
  idempotencyTtlMs: number;
  unreadCap: number;
  now: () => number;
  publish: (message: Message) => void;
  /** Where `chat.message.created` goes, in the append's own step (unset: no webhooks). */
  outbox?: OutboxWriter;
}

interface Room {
  epoch: string;
  /** The last seq assigned; `messages` hold the retained tail, contiguous, ending at it. */
  seq: number;
  ms: number;
  /** Entries as appended (messages and changes); reads fold `states` in. */
  messages: Message[];
  reads: Map<string, string>;
  /** The state of every changed message, by its seq. */
  states: Map<number, MessageState>;
}

export function createMemoryMessageStore(options: MemoryMessageStoreOptions): MessageStore {
  const rooms = new Map<string, Room>();
  // Insertion order is expiry order (one TTL for all), so expired keys sit at the front.
  const idempotency = new Map<string, { message: Message; expiresAt: number }>();

  const room = (roomId: string): Room => {
    let r = rooms.get(roomId);
    if (!r) {
      r = {
        epoch: randomBytes(8).toString("base64url"),
        seq: 0,
        ms: 0,
        messages: [],
        reads: new Map(),
        states: new Map(),
      };
      rooms.set(roomId, r);
    }
    return r;
  };

  const sweepIdempotency = (now: number) => {
    for (const [key, value] of idempotency) {
      if (value.expiresAt > now) break;
      idempotency.delete(key);
    }
  };

  /** Drop what is beyond the history limit or older than the retention: always the oldest. */
  const trim = (r: Room, now: number) => {
    let drop = Math.max(0, r.messages.length - options.historyLimit);
    if (options.retentionMs > 0) {
      const cutoff = now - options.retentionMs;
      while (drop < r.messages.length && (r.messages[drop] as Message).createdAt < cutoff) drop++;
    }
    if (drop > 0) r.messages.splice(0, drop);
    const floor = r.messages[0]?.seq ?? r.seq + 1;
    for (const seq of r.states.keys()) if (seq < floor) r.states.delete(seq);
  };

  /** Entries as a read shows them: every message with its state. */
  const fold = (r: Room, entries: Message[]): Message[] =>
    entries.map((e) => folded(e, r.states.get(subjectSeq(e))));

  /** The retained entry at `seq`, if any. */
  const entryAt = (r: Room, seq: number): Message | undefined => {
    const at = indexAfter(r, seq - 1);
    const entry = r.messages[at];
    return entry?.seq === seq ? entry : undefined;
  };

  const lookup = (r: Room, messageId: string): TargetLookup => {
    const seq = Number(messageId.slice(messageId.indexOf("-") + 1));
    const entry = entryAt(r, seq);
    if (entry && entry.id === messageId && entry.kind === undefined) {
      return { status: "found", message: folded(entry, r.states.get(seq)) };
    }
    if (!entry && seq > 0 && seq <= r.seq) return { status: "expired" };
    return { status: "missing" };
  };

  /** The room's retained messages (trimmed first, as the Redis stream expires when idle). */
  const logOf = (roomId: string): Room => {
    const r = room(roomId);
    trim(r, options.now());
    return r;
  };

  const head = (r: Room): RoomHead => ({ epoch: r.epoch, seq: r.seq });

  /** Index of the first retained message with a seq above `seq` (a fence may leave a jump). */
  const indexAfter = (r: Room, seq: number): number => {
    let lo = 0;
    let hi = r.messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((r.messages[mid] as Message).seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  return {
    async append(input, limit): Promise<AppendResult> {
      if (limit) await limit.limiter.consume(limit.key);
      const now = options.now();
      sweepIdempotency(now);
      const r = room(input.roomId);
      const idemKey =
        input.clientMsgId === undefined
          ? undefined
          : JSON.stringify([input.roomId, input.senderId, input.clientMsgId]);
      const prior = idemKey === undefined ? undefined : idempotency.get(idemKey);
      if (prior && prior.expiresAt > now && prior.message.epoch === r.epoch) {
        options.publish(prior.message);
        return { message: prior.message, duplicate: true };
      }
      r.seq += 1;
      r.ms = Math.max(now, r.ms);
      const message = messageOf(
        input.roomId,
        { epoch: r.epoch, seq: r.seq, ms: r.ms },
        input.senderId,
        bodyOf(input),
      );
      r.messages.push(message);
      trim(r, now);
      if (idemKey) idempotency.set(idemKey, { message, expiresAt: now + options.idempotencyTtlMs });
      options.publish(message);
      if (options.outbox?.wants("chat.message.created")) {
        // The Redis script's raw form (webhooks/events.ts renders it).
        const body = bodyOf(input);
        const p = { e: message.epoch, s: message.seq, t: r.ms, u: message.senderId, m: body };
        void options.outbox.append("chat.message.created", JSON.stringify({ roomId: input.roomId, p }));
      }
      return { message, duplicate: false };
    },

    async stored(roomId, senderId, clientMsgId) {
      const prior = idempotency.get(JSON.stringify([roomId, senderId, clientMsgId]));
      return prior && prior.expiresAt > options.now() ? prior.message : undefined;
    },

    async change(input): Promise<ChangeResult> {
      const now = options.now();
      sweepIdempotency(now);
      const r = logOf(input.roomId);
      const found = lookup(r, input.target);
      if (found.status === "missing") throw new AppError("NOT_FOUND", "no such message in this room");
      if (found.status === "expired") {
        throw new AppError("NOT_FOUND", "the message is no longer in the room's retained history");
      }
      const targetSeq = found.message.seq;
      const original = entryAt(r, targetSeq) as Message;
      const idemKey =
        input.clientMsgId === undefined
          ? undefined
          : JSON.stringify([input.roomId, input.kind, input.senderId, input.clientMsgId]);
      const prior = idemKey === undefined ? undefined : idempotency.get(idemKey);
      if (prior && prior.expiresAt > now && prior.message.epoch === r.epoch) {
        options.publish(prior.message);
        return { entry: prior.message, message: found.message, duplicate: true };
      }
      const outcome = applyChange(r.states.get(targetSeq), input, r.seq + 1, MAX_REACTION_KINDS);
      if ("refused" in outcome) {
        throw outcome.refused === "deleted"
          ? new AppError("NOT_FOUND", "the message was deleted")
          : new AppError("FORBIDDEN", `a message holds at most ${MAX_REACTION_KINDS} different reactions`);
      }
      if (!outcome.changed) return { entry: null, message: found.message, duplicate: false };
      r.seq += 1;
      r.ms = Math.max(now, r.ms);
      const entry = messageOf(
        input.roomId,
        { epoch: r.epoch, seq: r.seq, ms: r.ms },
        input.senderId,
        bodyOf(input),
      );
      r.messages.push(entry);
      r.states.set(targetSeq, outcome.state);
      trim(r, now);
      if (idemKey) idempotency.set(idemKey, { message: entry, expiresAt: now + options.idempotencyTtlMs });
      options.publish(entry);
      return { entry, message: folded(original, outcome.state), duplicate: false };
    },

    async lookup(roomId, messageId) {
      return lookup(logOf(roomId), messageId);
    },

    async summary(roomId): Promise<RoomSummary | undefined> {
      if (!rooms.has(roomId)) return undefined;
      const r = logOf(roomId);
      let lastMessage: Message | undefined;
      for (let i = r.messages.length - 1; i >= Math.max(0, r.messages.length - SUMMARY_SCAN); i--) {
        const entry = r.messages[i] as Message;
        if (entry.kind === undefined) {
          lastMessage = folded(entry, r.states.get(entry.seq));
          break;
        }
      }
      return { ...head(r), lastActivityAt: r.ms, ...(lastMessage ? { lastMessage } : {}) };
    },

    async head(roomId) {
      return head(room(roomId));
    },

    async latest(roomId, limit): Promise<LogPage> {
      const r = logOf(roomId);
      const messages = fold(r, r.messages.slice(Math.max(0, r.messages.length - limit)));
      return { ...head(r), messages, hasMore: r.messages.length > limit };
    },

    async after(roomId, cursor, limit): Promise<RecoveryPage> {
      const r = logOf(roomId);
      const at = indexAfter(r, cursor.seq);
      const anchor = r.messages[at - 1];
      const found =
        cursor.ms === undefined
          ? cursor.seq <= r.seq && (cursor.seq === r.seq || r.messages[at]?.seq === cursor.seq + 1)
          : anchor?.seq === cursor.seq && anchor.id === `${cursor.ms}-${cursor.seq}`;
      if (!found) return { ...head(r), messages: [], hasMore: false, found };
      const newer = r.messages.slice(at);
      return { ...head(r), messages: fold(r, newer.slice(0, limit)), hasMore: newer.length > limit, found };
    },

    async history(roomId, { beforeSeq, afterSeq, limit }): Promise<LogPage> {
      const r = logOf(roomId);
      const start = afterSeq === undefined ? 0 : indexAfter(r, afterSeq);
      const end = beforeSeq === undefined ? r.messages.length : indexAfter(r, beforeSeq - 1);
      const range = start < end ? r.messages.slice(start, end) : [];
      const messages =
        afterSeq === undefined ? range.slice(Math.max(0, range.length - limit)) : range.slice(0, limit);
      return { ...head(r), messages: fold(r, messages), hasMore: range.length > limit };
    },

    async fence(roomId, seq) {
      const r = room(roomId);
      r.seq = Math.max(r.seq, seq);
    },

    async markRead(roomId, userId, messageId): Promise<MarkReadResult | undefined> {
      const r = logOf(roomId);
      const newest = r.messages[r.messages.length - 1];
      if (!newest) return undefined;
      const target = compareMessageIds(messageId, newest.id) > 0 ? newest.id : messageId;
      const current = r.reads.get(userId);
      if (current !== undefined && compareMessageIds(current, target) >= 0) {
        return { lastReadId: current, moved: false };
      }
      r.reads.set(userId, target);
      return { lastReadId: target, moved: true };
    },

    async readState(roomId, userId): Promise<ReadState> {
      const r = logOf(roomId);
      const lastReadId = r.reads.get(userId) ?? null;
      const readSeq = lastReadId === null ? 0 : Number(lastReadId.slice(lastReadId.indexOf("-") + 1));
      const floor = Math.max(0, r.messages.length - options.unreadCap);
      let unread = 0;
      let mentions = 0;
      for (let i = Math.max(indexAfter(r, readSeq), floor); i < r.messages.length; i++) {
        const entry = r.messages[i] as Message;
        // Changes (edits, deletes, reactions) are not unread messages.
        if (entry.kind !== undefined || entry.senderId === userId) continue;
        unread++;
        if (entry.mentions?.includes(userId)) mentions++;
      }
      return { lastReadId, unread, mentions };
    },
  };
}
