import type { RateLimiter } from "../infra/rate-limit.js";
import type { Message } from "../protocol/index.js";

/**
 * Storage contracts of the chat domain. Two implementations each (Redis, in-memory),
 * held to the same behaviour by one contract suite (test/chat/store-contract.test.ts).
 * Message ids are Redis Stream ids (`<ms>-<seq>`); every page lists oldest first.
 */

/** A message as handed to the store, before it has its stream id. */
export type NewMessage = Omit<Message, "id">;

/** A per-user rate limit the write must pass: nothing is stored when it refuses. */
export interface AppendLimit {
  limiter: RateLimiter;
  key: string;
}

export interface AppendResult {
  message: Message;
  /** True when `clientMsgId` was already used by this sender in this room: `message` is the original. */
  duplicate: boolean;
}

export interface MessagePage {
  messages: Message[];
  /** More messages exist beyond the page in the direction it was read. */
  hasMore: boolean;
}

export interface RecoveryPage extends MessagePage {
  /** False when `since` is not in the retained history (trimmed, expired or unknown). */
  found: boolean;
}

export interface HistoryQuery {
  /** Only messages older than this id. */
  before?: string;
  /** Only messages newer than this id. */
  after?: string;
  limit: number;
}

export interface ReadState {
  lastReadId: string | null;
  /** Messages after `lastReadId` sent by others, counted over at most `unreadCap` of the newest ones. */
  unread: number;
}

export interface MarkReadResult {
  /** The stored position after the call (never moves backwards, never past the newest message). */
  lastReadId: string;
  moved: boolean;
}

export interface MessageStore {
  /**
   * Persist a message (idempotent per sender, room and `clientMsgId` for 24 h), trimming
   * the room to about `historyLimit` messages. Resolves only once the write is done.
   * With `limit`, consumes it first and rejects with RATE_LIMITED, storing nothing, when
   * it refuses (the Redis store does both in one script where it can).
   */
  append(message: NewMessage, limit?: AppendLimit): Promise<AppendResult>;
  /** The newest `limit` messages. `hasMore`: older ones exist. */
  latest(roomId: string, limit: number): Promise<MessagePage>;
  /** Messages strictly after `since`, oldest first, at most `limit`. `hasMore`: newer ones exist. */
  since(roomId: string, since: string, limit: number): Promise<RecoveryPage>;
  /**
   * A page between the cursors: with `after`, the oldest `limit` messages after it
   * (`hasMore`: newer ones exist); otherwise the newest `limit` before `before`
   * (`hasMore`: older ones exist).
   */
  history(roomId: string, query: HistoryQuery): Promise<MessagePage>;
  /** Move the user's read position forwards. Undefined when the room has no messages. */
  markRead(roomId: string, userId: string, messageId: string): Promise<MarkReadResult | undefined>;
  readState(roomId: string, userId: string): Promise<ReadState>;
}

export type MemberEvent = "join" | "leave";

export interface MemberChange {
  roomId: string;
  userId: string;
  event: MemberEvent;
}

export interface MemberSync {
  /** Room-wide transitions caused by the call (devices and instances collapsed per user). */
  changes: MemberChange[];
  /** Users in the room now, one entry each; only when asked for. */
  online?: string[];
}

export interface RefreshResult extends MemberSync {
  /** This instance's entries were missing (expired or lost): call again with the full local state. */
  stale: boolean;
}

/**
 * Who is in which room, across instances. Each instance reports the number of its own
 * sockets per user and room; the store collapses devices and instances per user and
 * reports when a user's first socket arrives or last socket goes. An instance that
 * stops refreshing its entries (it died) is dropped after its lease, with `leave`
 * changes for the users only it held.
 */
export interface MemberStore {
  /** Set this instance's socket count for a user in a room (0 removes the user here). */
  update(roomId: string, userId: string, localSockets: number, withOnline?: boolean): Promise<MemberSync>;
  online(roomId: string): Promise<MemberSync & { online: string[] }>;
  /**
   * Extend this instance's lease on the room. With `local` (every user here and their
   * socket counts), also rewrite this instance's entries to match it exactly.
   */
  refresh(roomId: string, local?: ReadonlyMap<string, number>): Promise<RefreshResult>;
}
