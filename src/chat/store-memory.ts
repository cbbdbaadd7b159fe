import type { Message } from "../protocol/index.js";
import { type ParsedId, parseMessageId } from "./message-id.js";
import type {
  AppendResult,
  HistoryQuery,
  MarkReadResult,
  MemberChange,
  MemberStore,
  MemberSync,
  MessagePage,
  MessageStore,
  ReadState,
  RecoveryPage,
  RefreshResult,
} from "./store.js";

/**
 * Single-process stores for running without REDIS_URL (development, one instance).
 * Same contract as the Redis stores; state is lost on restart.
 */

export interface MemoryStoreOptions {
  historyLimit: number;
  /** 0: no time-based retention. */
  retentionMs: number;
  idempotencyTtlMs: number;
  unreadCap: number;
  now: () => number;
}

interface Entry {
  ms: bigint;
  seq: bigint;
  message: Message;
}

interface Room {
  entries: Entry[];
  reads: Map<string, string>;
}

const compare = (a: ParsedId, b: ParsedId): number =>
  a.ms === b.ms ? (a.seq === b.seq ? 0 : a.seq < b.seq ? -1 : 1) : a.ms < b.ms ? -1 : 1;

/** Index of the first entry newer than `id` (entries are sorted by id). */
function firstAfter(entries: Entry[], id: ParsedId): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // biome-ignore lint/style/noNonNullAssertion: mid < entries.length
    if (compare(entries[mid]!, id) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first entry not older than `id`. */
function firstAtOrAfter(entries: Entry[], id: ParsedId): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // biome-ignore lint/style/noNonNullAssertion: mid < entries.length
    if (compare(entries[mid]!, id) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const cursor = (id: string): ParsedId => {
  const parsed = parseMessageId(id);
  if (!parsed) throw new Error(`not a message id: ${id}`);
  return parsed;
};

export function createMemoryMessageStore(options: MemoryStoreOptions): MessageStore {
  const rooms = new Map<string, Room>();
  // Insertion order is expiry order (one TTL for all), so expired keys sit at the front.
  const idempotency = new Map<string, { message: Message; expiresAt: number }>();

  const room = (roomId: string): Room => {
    let r = rooms.get(roomId);
    if (!r) {
      r = { entries: [], reads: new Map() };
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

  const trim = (r: Room, now: number) => {
    if (r.entries.length > options.historyLimit) r.entries.splice(0, r.entries.length - options.historyLimit);
    if (options.retentionMs > 0) {
      const cutoff = BigInt(now - options.retentionMs);
      let drop = 0;
      // biome-ignore lint/style/noNonNullAssertion: drop < length
      while (drop < r.entries.length && r.entries[drop]!.ms < cutoff) drop++;
      if (drop > 0) r.entries.splice(0, drop);
    }
  };

  /** The room's entries within retention (the Redis stream expires whole when idle that long). */
  const entriesOf = (roomId: string): Entry[] => {
    const r = rooms.get(roomId);
    if (!r) return [];
    if (options.retentionMs > 0) trim(r, options.now());
    return r.entries;
  };

  const page = (entries: Entry[], limit: number, fromEnd: boolean): MessagePage => {
    const slice = fromEnd ? entries.slice(Math.max(0, entries.length - limit)) : entries.slice(0, limit);
    return { messages: slice.map((e) => e.message), hasMore: entries.length > limit };
  };

  return {
    async append(input, limit): Promise<AppendResult> {
      if (limit) await limit.limiter.consume(limit.key);
      const now = options.now();
      sweepIdempotency(now);
      const idemKey =
        input.clientMsgId === undefined
          ? undefined
          : JSON.stringify([input.roomId, input.senderId, input.clientMsgId]);
      if (idemKey) {
        const prior = idempotency.get(idemKey);
        if (prior && prior.expiresAt > now) return { message: prior.message, duplicate: true };
      }
      const r = room(input.roomId);
      const last = r.entries[r.entries.length - 1];
      // Like XADD *: the clock's millisecond, never going backwards, with a sequence inside it.
      let ms = BigInt(now);
      let seq = 0n;
      if (last && last.ms >= ms) {
        ms = last.ms;
        seq = last.seq + 1n;
      }
      const message: Message = {
        id: `${ms}-${seq}`,
        roomId: input.roomId,
        senderId: input.senderId,
        ...(input.senderName === undefined ? {} : { senderName: input.senderName }),
        text: input.text,
        ...(input.clientMsgId === undefined ? {} : { clientMsgId: input.clientMsgId }),
        createdAt: input.createdAt,
      };
      r.entries.push({ ms, seq, message });
      trim(r, now);
      if (idemKey) idempotency.set(idemKey, { message, expiresAt: now + options.idempotencyTtlMs });
      return { message, duplicate: false };
    },

    async latest(roomId, limit) {
      return page(entriesOf(roomId), limit, true);
    },

    async since(roomId, since, limit): Promise<RecoveryPage> {
      const entries = entriesOf(roomId);
      const at = cursor(since);
      const index = firstAtOrAfter(entries, at);
      const hit = entries[index];
      if (!hit || compare(hit, at) !== 0) return { messages: [], hasMore: false, found: false };
      return { ...page(entries.slice(index + 1), limit, false), found: true };
    },

    async history(roomId, query: HistoryQuery) {
      const entries = entriesOf(roomId);
      const start = query.after === undefined ? 0 : firstAfter(entries, cursor(query.after));
      const end = query.before === undefined ? entries.length : firstAtOrAfter(entries, cursor(query.before));
      const range = start < end ? entries.slice(start, end) : [];
      return page(range, query.limit, query.after === undefined);
    },

    async markRead(roomId, userId, messageId): Promise<MarkReadResult | undefined> {
      const r = rooms.get(roomId);
      const entries = entriesOf(roomId);
      const newest = entries[entries.length - 1];
      if (!r || !newest) return undefined;
      let target = cursor(messageId);
      if (compare(target, newest) > 0) target = newest;
      const current = r.reads.get(userId);
      if (current !== undefined && compare(cursor(current), target) >= 0) {
        return { lastReadId: current, moved: false };
      }
      const lastReadId = `${target.ms}-${target.seq}`;
      r.reads.set(userId, lastReadId);
      return { lastReadId, moved: true };
    },

    async readState(roomId, userId): Promise<ReadState> {
      const r = rooms.get(roomId);
      const lastReadId = r?.reads.get(userId) ?? null;
      const entries = entriesOf(roomId);
      const floor = Math.max(0, entries.length - options.unreadCap);
      const from = lastReadId === null ? 0 : firstAfter(entries, cursor(lastReadId));
      let unread = 0;
      for (let i = Math.max(from, floor); i < entries.length; i++) {
        // biome-ignore lint/style/noNonNullAssertion: i < length
        if (entries[i]!.message.senderId !== userId) unread++;
      }
      return { lastReadId, unread };
    },
  };
}

/** One process is the whole cluster here: the local socket counts are the truth. */
export function createMemoryMemberStore(): MemberStore {
  const rooms = new Map<string, Map<string, number>>();

  const online = (roomId: string): string[] => [...(rooms.get(roomId)?.keys() ?? [])];

  const set = (roomId: string, userId: string, count: number): MemberChange | undefined => {
    let users = rooms.get(roomId);
    const before = users?.has(userId) ?? false;
    if (count > 0) {
      if (!users) {
        users = new Map();
        rooms.set(roomId, users);
      }
      users.set(userId, count);
    } else if (users) {
      users.delete(userId);
      if (users.size === 0) rooms.delete(roomId);
    }
    if (before === count > 0) return undefined;
    return { roomId, userId, event: before ? "leave" : "join" };
  };

  return {
    async update(roomId, userId, localSockets, withOnline = false): Promise<MemberSync> {
      const change = set(roomId, userId, localSockets);
      return { changes: change ? [change] : [], ...(withOnline ? { online: online(roomId) } : {}) };
    },
    async online(roomId) {
      return { changes: [], online: online(roomId) };
    },
    async refresh(roomId, local): Promise<RefreshResult> {
      const changes: MemberChange[] = [];
      if (local) {
        for (const userId of online(roomId)) {
          if (!local.has(userId)) {
            const change = set(roomId, userId, 0);
            if (change) changes.push(change);
          }
        }
        for (const [userId, count] of local) {
          const change = set(roomId, userId, count);
          if (change) changes.push(change);
        }
      }
      return { changes, stale: false };
    },
  };
}
