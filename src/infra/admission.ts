/**
 * Admission control for reconnect storms: at most `maxInFlight` handshakes in progress on
 * this instance, and at most `maxConnections` connections held. Beyond either a handshake
 * is refused at once (UNAVAILABLE with a retry hint) instead of queueing behind the others:
 * under a storm every waiting handshake holds memory and makes every other one slower,
 * while a refused client comes back a little later (the SDK waits the hint plus its
 * jittered backoff), spreading the storm over time.
 */
export interface Admission {
  /** Takes a place; false when every place is taken (refuse the handshake). */
  enter(): boolean;
  /** Gives back a place taken by `enter`. */
  leave(): void;
  /** Handshakes in progress now. */
  inFlight(): number;
  /** Every place is taken: /ready says so. */
  saturated(): boolean;
  /** The instance holds as many connections as it can (`MAX_CONNECTIONS_PER_INSTANCE`): /ready says so. */
  full(): boolean;
  /** More connections than that: a handshake in progress is counted already (refuse it). */
  overCapacity(): boolean;
  /** The retry hint a refusal carries (ms). */
  readonly retryAfterMs: number;
}

export function createAdmission(options: {
  maxInFlight: number;
  retryAfterMs: number;
  /** Connections held at most; beyond, new handshakes are refused the same way. */
  maxConnections?: number;
  /** Connections held now, handshakes in progress included. */
  connections?: () => number;
}): Admission {
  let inFlight = 0;
  const { maxConnections = Number.POSITIVE_INFINITY, connections = () => 0 } = options;
  return {
    enter() {
      if (inFlight >= options.maxInFlight) return false;
      inFlight += 1;
      return true;
    },
    leave() {
      inFlight = Math.max(0, inFlight - 1);
    },
    inFlight: () => inFlight,
    saturated: () => inFlight >= options.maxInFlight,
    // Engine.IO counts a client from its transport's handshake, before Socket.IO's.
    full: () => connections() >= maxConnections,
    overCapacity: () => connections() > maxConnections,
    retryAfterMs: options.retryAfterMs,
  };
}
