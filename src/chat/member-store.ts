/**
 * The member store contract: who is in which room, across instances. Two implementations
 * (Redis, in-memory), held to one contract suite (test/chat/member-store.contract.test.ts).
 */

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
  /** This instance held no entries in the room (lost by Redis): call again with the full local state. */
  stale: boolean;
}

/**
 * Who is in which room, across instances. Each instance reports the number of its own
 * sockets per user and room under its registration in the instance registry; the store
 * collapses devices and instances per user and reports when a user's first socket
 * arrives or last socket goes. The entries of a registration the registry declared dead
 * are removed by `reap`, with `leave` changes for the users only it held.
 */
export interface MemberStore {
  /** Set this instance's socket count for a user in a room (0 removes the user here). */
  update(roomId: string, userId: string, localSockets: number, withOnline?: boolean): Promise<MemberSync>;
  online(roomId: string): Promise<MemberSync & { online: string[] }>;
  /**
   * Check that this instance's entries in the room are there (`stale` when they are not).
   * With `local` (every user here and their socket counts), rewrite them to match it exactly.
   */
  refresh(roomId: string, local?: ReadonlyMap<string, number>): Promise<RefreshResult>;
  /** This instance holds nobody in the room any more (its last entry there is gone): stop listing it. */
  release(roomId: string): Promise<void>;
  /**
   * Remove a dead registration's entries from every room it held, with a `leave` for each
   * user it alone held there (once, however many instances reap it at the same time).
   * `done`: nothing of it is left.
   */
  reap(registration: string): Promise<{ changes: MemberChange[]; done: boolean }>;
}
