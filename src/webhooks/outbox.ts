import type { WebhookEventType } from "../infra/config/sections.js";

/**
 * The webhook outbox: events written by the state changes that cause them, delivered by
 * a consumer group that every instance joins. The Redis outbox is a stream; the memory
 * one serves a single instance and is lost on restart (not durable).
 */

/** One event waiting for delivery. `data` is the event's raw JSON as the writer stored it (events.ts renders it). */
export interface OutboxEntry {
  /** The outbox's own id (a stream id in Redis): what ack, keep and dead-letter name. */
  id: string;
  /** Stable across every retry and a redelivery: the receiver deduplicates by it. */
  webhookId: string;
  type: WebhookEventType;
  data: string;
  /** When the event happened (ms): the retry window runs from here. */
  createdAt: number;
}

export interface DeadLetter extends OutboxEntry {
  deadAt: number;
  attempts: number;
  lastError: string;
}

export interface OutboxLag {
  /** Entries written but not yet delivered (new and pending). */
  undelivered: number;
  /** Age of the oldest undelivered entry (ms); 0 when none. */
  oldestAgeMs: number;
}

/** What the delivery worker and the internal API use. Every instance passes its own consumer name. */
export interface Outbox {
  /** Entries nobody has taken yet, now held by `consumer`. */
  readNew(consumer: string, count: number): Promise<OutboxEntry[]>;
  /** Entries held by any consumer but untouched for `minIdleMs` (a dead instance's): now `consumer`'s. */
  claimStale(consumer: string, minIdleMs: number, count: number): Promise<OutboxEntry[]>;
  /** Marks entries as still worked on by `consumer` (they are not stale while it retries). */
  keep(consumer: string, ids: readonly string[]): Promise<void>;
  /** Given up by a stopping instance: claimable by the others at once, not after the claim time. */
  release(consumer: string, ids: readonly string[]): Promise<void>;
  /** Delivered: removed from the outbox. */
  ack(ids: readonly string[]): Promise<void>;
  /** Out of retries: moved to the dead letters in one step. */
  deadLetter(entry: OutboxEntry, attempts: number, lastError: string, now: number): Promise<void>;
  /** Oldest first, after the dead letter `after` when given. */
  listDead(limit: number, after?: string): Promise<DeadLetter[]>;
  /** Back into the outbox with its webhook id; false when no such dead letter. */
  redeliver(deadId: string): Promise<boolean>;
  /** Drops delivered entries still kept (Redis: XTRIM MINID below the oldest undelivered one). */
  trim(): Promise<void>;
  lag(now: number): Promise<OutboxLag>;
}

/**
 * What a store needs to write an event in the same step as its state change. With
 * `script` set (Redis, standalone or Sentinel), the store's Lua writes the entry itself
 * (outbox.lua.ts); otherwise the store calls `append` right after its change (memory:
 * the same synchronous step; Redis Cluster: a second command, see docs/storage.md).
 */
export interface OutboxWriter {
  wants(type: WebhookEventType): boolean;
  script?: { key: string; spec: string };
  append(type: WebhookEventType, data: string): Promise<void>;
}

/** The Lua side's filter: the wanted types between spaces, `''` for none (outbox.lua.ts). */
export function outboxSpec(types: readonly WebhookEventType[]): string {
  return types.length === 0 ? "" : ` ${types.join(" ")} `;
}

/** The webhook id of an outbox entry: its stream id, unless a redelivery carried the original over. */
export const webhookIdOf = (entryId: string): string => `evt_${entryId}`;
