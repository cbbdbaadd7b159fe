import type { PendingLimit } from "../infra/rate-limit.js";
import type { ChangeKind, Message } from "../protocol/index.js";

/**
 * The message store contract of the chat domain. Two implementations (Redis, in-memory),
 * held to the same behaviour by one contract suite (test/chat/store-contract.test.ts).
 *
 * Each room has a log: messages numbered 1, 2, 3, … (`seq`) without holes, in one
 * `epoch`. A new epoch (a random id, seq restarting at 1) begins when the store lost the
 * room's state (Redis restarted without persistence, a failover to a replica that lacked
 * it): a client holding a position of another epoch knows it has a gap. Trimming only
 * ever removes the oldest messages, so the retained log is always contiguous.
 * Every page lists oldest first.
 */

/** A message as handed to the store, before it has its place in the log. */
export type NewMessage = Pick<
  Message,
  "roomId" | "senderId" | "senderName" | "text" | "clientMsgId" | "createdAt" | "replyTo" | "mentions"
>;

/** A change to an earlier message of the room, before it has its place in the log. */
export interface NewChange {
  roomId: string;
  /** Who makes the change (the sender, or an admin). */
  senderId: string;
  senderName?: string;
  clientMsgId?: string;
  createdAt: number;
  kind: ChangeKind;
  /** The id of the message changed. */
  target: string;
  /** An edit: the new text; otherwise "". */
  text: string;
  emoji?: string;
  on?: boolean;
}

export interface ChangeResult {
  /** The entry appended, or null when the message already was in that state (nothing appended). */
  entry: Message | null;
  /** The target as it stands after the change. */
  message: Message;
  /** True when `clientMsgId` was already used for this kind by this user in this room. */
  duplicate: boolean;
}

/** Where a message id stands in its room's log. */
export type TargetLookup =
  | { status: "found"; message: Message }
  /** Not a message of this room (never was, or the id belongs to another room or epoch). */
  | { status: "missing" }
  /** It was a position of the log that trimming or retention removed. */
  | { status: "expired" };

/** Distinct reactions one message may hold. */
export const MAX_REACTION_KINDS = 20;

export interface AppendResult {
  message: Message;
  /** True when `clientMsgId` was already used by this sender in this room: `message` is the original. */
  duplicate: boolean;
}

/** Where a room's log stands. */
export interface RoomHead {
  epoch: string;
  /** The last seq assigned (0: no message yet in this epoch). */
  seq: number;
}

export interface RoomSummary extends RoomHead {
  /** When the room's last entry was appended (its id's ms); 0 before the first one. */
  lastActivityAt: number;
  /** The newest message among the newest SUMMARY_SCAN entries, if any. */
  lastMessage?: Message;
}

/** Entries the summary looks back through for the newest message (past a run of changes). */
export const SUMMARY_SCAN = 200;

export interface LogPage extends RoomHead {
  messages: Message[];
  /** More messages exist beyond the page in the direction it was read. */
  hasMore: boolean;
}

export interface RecoveryPage extends LogPage {
  /** False when the cursor is not a position of this epoch's retained log (trimmed, expired, unknown). */
  found: boolean;
}

/**
 * A position in a room's log: after `seq`. With `ms` (a message id `<ms>-<seq>` as the
 * cursor), the message at `seq` must still be retained and have that id.
 */
export interface LogCursor {
  seq: number;
  ms?: number;
}

export interface HistoryQuery {
  /** Only messages before this seq. */
  beforeSeq?: number;
  /** Only messages after this seq. */
  afterSeq?: number;
  limit: number;
}

export interface ReadState {
  lastReadId: string | null;
  /** Messages after `lastReadId` sent by others, counted over at most `unreadCap` of the newest ones. */
  unread: number;
  /** Of those, the ones whose `mentions` name the reader. */
  mentions: number;
}

export interface MarkReadResult {
  /** The stored position after the call (never moves backwards, never past the newest message). */
  lastReadId: string;
  moved: boolean;
}

export interface MessageStore {
  /**
   * Persist a message at the end of its room's log and publish it to the room's feed in
   * the same step (so every subscriber receives a room's messages in log order, and no
   * message is ever stored without being published). Idempotent per sender, room and
   * `clientMsgId` for 24 h: a repeat answers the original and publishes it again, so a
   * retry makes sure members have it. Trims the room to about `historyLimit` messages.
   * With `limit` (the sender's, from the route), consumes it first and rejects with
   * RATE_LIMITED, storing nothing, when it refuses (the Redis store does both in one script
   * where it can).
   */
  append(message: NewMessage, limit?: PendingLimit): Promise<AppendResult>;
  /**
   * The message this sender already stored in the room with `clientMsgId` (within the
   * idempotency window), or undefined: a retry is answered without asking the moderation
   * hook again.
   */
  stored(roomId: string, senderId: string, clientMsgId: string): Promise<Message | undefined>;
  /**
   * Append a change (edit, delete, reaction) to an earlier message of the room, fold it
   * into the message's state and publish the entry, in one step. Idempotent per user,
   * room, kind and `clientMsgId`. A reaction already in the asked state, or a delete of a
   * deleted message, appends nothing (`entry: null`). Rejects with NOT_FOUND when the target
   * is not a retained message of the room, or is deleted (for an edit or a reaction), and
   * with FORBIDDEN when a reaction would be the message's MAX_REACTION_KINDS + 1st kind.
   */
  change(change: NewChange): Promise<ChangeResult>;
  /** A message of the room by id, with its state (for the checks before a change or a reply). */
  lookup(roomId: string, messageId: string): Promise<TargetLookup>;
  /**
   * Where the room's log stands and its newest message (not a change; with its state), for
   * the room list. Undefined when the room has no log (it expired, or never had one): this
   * read never starts an epoch.
   */
  summary(roomId: string): Promise<RoomSummary | undefined>;
  /** The room's epoch and last seq (an empty room gets its epoch here). */
  head(roomId: string): Promise<RoomHead>;
  /** The newest `limit` messages. `hasMore`: older ones exist. */
  latest(roomId: string, limit: number): Promise<LogPage>;
  /** Messages after the cursor, oldest first, at most `limit`. `hasMore`: newer ones exist. */
  after(roomId: string, cursor: LogCursor, limit: number): Promise<RecoveryPage>;
  /**
   * A page between the positions: with `afterSeq`, the oldest `limit` messages after it
   * (`hasMore`: newer ones exist); otherwise the newest `limit` before `beforeSeq`
   * (`hasMore`: older ones exist).
   */
  history(roomId: string, query: HistoryQuery): Promise<LogPage>;
  /**
   * Raise the room's last seq to at least `seq`: after Redis lost messages that were
   * already delivered (a failover to a replica that lacked them), their seqs must never be
   * given to other messages, and a recovery from inside the lost range must fail.
   */
  fence(roomId: string, seq: number): Promise<void>;
  /** Move the user's read position forwards. Undefined when the room has no messages. */
  markRead(roomId: string, userId: string, messageId: string): Promise<MarkReadResult | undefined>;
  readState(roomId: string, userId: string): Promise<ReadState>;
}
