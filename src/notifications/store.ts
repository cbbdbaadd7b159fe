import type { Notification, NotificationListResult } from "../protocol/index.js";

/** What a backend publishes; the store adds the id, createdAt and read state. */
export interface NotificationContent {
  type: string;
  title: string;
  body?: string;
  data?: Record<string, unknown>;
}

export interface ListQuery {
  limit: number;
  /** Only notifications older than this one (exclusive), for paging. */
  before?: NotificationId;
  unreadOnly: boolean;
}

export type ReadTarget = { ids: string[] } | { all: true };

/** What an idempotency key answers with: the ids the first request created. */
export type PublishedRef = { userId: string; id: string };

/** A publish's idempotency key, remembered per recipient with that recipient's notification. */
export interface IdempotencyKey {
  /** A digest of the key: the key itself never reaches Redis. */
  hash: string;
  ttlMs: number;
}

export interface AddResult {
  id: string;
  /** The notification as stored (absent for a replay whose notification was dropped since). */
  notification: Notification | undefined;
  /** True when the key had already created this recipient's notification: nothing was stored. */
  replayed: boolean;
}

export interface NotificationStoreOptions {
  /** Kept per user; the oldest beyond it are dropped, read or not. */
  limit: number;
  /** Age after which a notification is gone. */
  ttlMs: number;
}

/**
 * Per-user notification storage. Both implementations (Redis, in-memory) honour the
 * same contract, proven by test/notifications/store.contract.test.ts:
 * - ids are `<ms>-<seq>` and strictly increase per user, even within one millisecond
 *   or when the clock steps back, so "newest first" is exact;
 * - at most `limit` per user, none older than `ttlMs`; a dropped notification leaves
 *   the unread count too, so the count is always exact;
 * - `now` is passed in (epoch ms) so expiry is testable without waiting.
 */
export interface NotificationStore {
  /**
   * Store one notification per user; the result is in the order of `userIds`. With a key,
   * each user's insert and the key are written in one step: a user the key already created
   * a notification for gets that one back (`replayed`), so one key never creates two,
   * whatever crashed in between.
   */
  add(
    userIds: readonly string[],
    content: NotificationContent,
    now: number,
    idempotency?: IdempotencyKey,
  ): Promise<AddResult[]>;
  list(userId: string, query: ListQuery, now: number): Promise<NotificationListResult>;
  /** Mark as read (ids that are not this user's unread notifications are ignored); returns the unread count. */
  markRead(userId: string, target: ReadTarget, now: number): Promise<number>;
  unreadCount(userId: string, now: number): Promise<number>;
}

/** A parsed notification id: creation millisecond plus a per-user sequence within it. */
export interface NotificationId {
  ms: number;
  seq: number;
}

/** Six digits keep ids of one millisecond in lexicographic order too (Redis sorts ties by member). */
export const SEQ_DIGITS = 6;
export const MAX_SEQ = 10 ** SEQ_DIGITS - 1;
export const NOTIFICATION_ID_PATTERN = /^([1-9]\d{0,15})-(\d{6})$/;

export function formatNotificationId(id: NotificationId): string {
  return `${id.ms}-${String(id.seq).padStart(SEQ_DIGITS, "0")}`;
}

export function parseNotificationId(id: string): NotificationId | undefined {
  const match = NOTIFICATION_ID_PATTERN.exec(id);
  if (!match) return undefined;
  return { ms: Number(match[1]), seq: Number(match[2]) };
}

/** The id after `last` for a notification created at `now`: never smaller than `last`. */
export function nextNotificationId(last: NotificationId | undefined, now: number): NotificationId {
  if (!last || now > last.ms) return { ms: now, seq: 0 };
  if (last.seq >= MAX_SEQ) return { ms: last.ms + 1, seq: 0 };
  return { ms: last.ms, seq: last.seq + 1 };
}

export function compareNotificationIds(a: NotificationId, b: NotificationId): number {
  return a.ms - b.ms || a.seq - b.seq;
}
