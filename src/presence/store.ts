import type { DeadRegistration } from "../instances/store.js";
import type { PresenceState, PresenceStatus, SettableStatus } from "../protocol/index.js";
import type { OutboxWriter } from "../webhooks/outbox.js";

export type { SettableStatus };

/**
 * One live connection. `instance` is the registration of a server instance in the
 * instance registry (its id plus an incarnation suffix), so that connections
 * re-registered after the instance was declared dead can never be mistaken for the ones
 * being cleaned up.
 */
export interface ConnectionRef {
  userId: string;
  instance: string;
  socketId: string;
}

export interface PresenceUpdate {
  state: PresenceState;
  /**
   * True for exactly one caller per visible change (status or text, including
   * offline ↔ online), whichever instance and however many run concurrently: the
   * caller that gets `true` is the one that emits `presence:changed`.
   */
  changed: boolean;
  /** Set while the grace runs (the user has no connection left but is still online). */
  offlineAt?: number;
}

export interface PresenceStoreOptions {
  /** How long a user stays online after their last connection is gone. */
  graceMs: number;
  /** How long an offline user's `lastSeen` and text are kept. */
  retentionMs: number;
  /**
   * Where `user.online` / `user.offline` go, written in the same step as the transition
   * (once per cluster-wide transition: the step that makes it is atomic). Unset: no webhooks.
   */
  outbox?: OutboxWriter;
}

/**
 * Presence state shared by every instance. Timestamps are passed in by the caller
 * (its clock), so the contract can be tested without waiting and both
 * implementations agree on time.
 *
 * Rules both implementations keep:
 * - a user is online from their first connection until their last one has been gone
 *   for `graceMs`; a connection that comes back inside the grace cancels the offline;
 * - the status set by the user resets to `online` when they go offline; their text is kept;
 * - the connections of a registration the instance registry declared dead are removed
 *   as if they had disconnected at its last heartbeat.
 */
export interface PresenceStore {
  connect(conn: ConnectionRef, now: number): Promise<PresenceUpdate>;
  /**
   * `connect`, unless the user already holds `max` connections, every instance together
   * (a connection already recorded is not counted twice): then nothing is written and it
   * resolves with undefined. Atomic, so concurrent handshakes on any instances never pass
   * the cap together.
   */
  connectWithin(conn: ConnectionRef, now: number, max: number): Promise<PresenceUpdate | undefined>;
  /**
   * Remove a connection (a no-op when it is already gone). `lastSeen` is when it was
   * last known alive; the grace runs from there, and if it is already over the user
   * goes offline at once.
   */
  disconnect(
    conn: ConnectionRef,
    at: { now: number; lastSeen: number },
  ): Promise<PresenceUpdate & { removed: boolean }>;
  setStatus(
    userId: string,
    status: SettableStatus,
    text: string | undefined,
    now: number,
  ): Promise<PresenceUpdate>;
  /** States in the order asked; a user never seen is offline with `lastSeen` 0. */
  get(userIds: readonly string[], now: number): Promise<PresenceState[]>;

  /** Take one user offline if their grace is over. */
  settle(userId: string, now: number): Promise<PresenceUpdate>;
  /** Take offline every user whose grace is over; returns the changes this call made. */
  settleDue(now: number, limit: number): Promise<PresenceState[]>;
  /**
   * Remove the connections held under a dead registration, as if they had disconnected at
   * its last heartbeat; returns the changes this call made, and whether none is left.
   */
  reap(dead: DeadRegistration, now: number): Promise<{ changes: PresenceState[]; done: boolean }>;
  /** How many connections a registration holds (the internal API's list of instances). */
  connectionCount(registration: string): Promise<number>;
}

/** The wire shape: `text` only when there is one. */
export function presenceState(
  userId: string,
  status: PresenceStatus,
  text: string | undefined,
  lastSeen: number,
  devices: number,
): PresenceState {
  const state: PresenceState = { userId, status, lastSeen, devices };
  if (text) state.text = text;
  return state;
}
