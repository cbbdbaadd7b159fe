/** A registration declared dead, with its last heartbeat: when it was last known alive. */
export interface DeadRegistration {
  registration: string;
  lastBeat: number;
}

/**
 * The registrations of every running instance, shared by all of them: one heartbeat per
 * instance, and the dead ones listed until every feature has cleaned up after them.
 * Timestamps are passed in by the caller (its clock), so the contract can be tested
 * without waiting. Two implementations (Redis, in-memory), held to the same behaviour by
 * test/instances/store.contract.test.ts.
 */
export interface InstanceStore {
  /** Start heart-beating a new registration. */
  register(registration: string, now: number): Promise<void>;
  /**
   * Refresh the heartbeat. False when the store does not hold the registration as live (it
   * was declared dead, or Redis lost it): the caller must register again, under a new id.
   */
  heartbeat(registration: string, now: number): Promise<boolean>;
  /**
   * Declare dead the registrations whose last heartbeat is older than `staleBefore` (their
   * heartbeat fails from then on), at most `limit` of them, the longest silent first; and
   * list up to `limit` dead registrations still to be cleaned up, in the same order,
   * those another instance is already cleaning included.
   */
  claimDead(staleBefore: number, limit: number): Promise<DeadRegistration[]>;
  /**
   * Declare a registration dead that its instance gave up (it registered again): what is
   * still held under it is then cleaned up like a dead instance's. A registration the store
   * holds as live or dead keeps its record.
   */
  declareDead(registration: string, lastBeat: number): Promise<void>;
  /** Nothing is held under a dead registration any more: drop its record. */
  forget(registration: string): Promise<void>;
  /** The live registrations with their last heartbeat, the longest silent first (the internal API's read side). */
  live(): Promise<{ registration: string; lastBeat: number }[]>;
}
