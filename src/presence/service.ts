import { randomBytes } from "node:crypto";
import type { Logger } from "../infra/logger.js";
import { AppError, type PresenceState } from "../protocol/index.js";
import type { ConnectionRef, PresenceStore, SettableStatus } from "./store.js";

/** How presence changes leave the service; the socket layer implements it. */
export interface PresenceBroadcaster {
  changed(state: PresenceState): void;
}

export interface PresenceServiceDeps {
  store: PresenceStore;
  broadcaster: PresenceBroadcaster;
  instanceId: string;
  /** An instance silent for this long is dead; heartbeats run every third of it. */
  ttlMs: number;
  logger: Logger;
  now?: () => number;
}

/**
 * A handshake's admission: `admitted` (recorded, within the cap), `full` (the user already
 * holds the maximum; nothing recorded) or `unchecked` (the store cannot be reached now:
 * not counted, recorded once it can be).
 */
export type Admission = "admitted" | "full" | "unchecked";

export interface PresenceService {
  /**
   * Record a connection during its handshake, unless the user already holds `max`
   * connections across all instances. An admitted connection becomes the socket's at
   * `connect`, or is removed by `disconnect` if the handshake does not complete.
   */
  admit(socketId: string, userId: string, max: number): Promise<Admission>;
  /**
   * Record a new local connection (nothing to do when `admit` recorded it). Synchronous:
   * the store write runs in the background.
   */
  connect(socketId: string, userId: string): void;
  disconnect(socketId: string): void;
  set(
    socketId: string,
    userId: string,
    status: SettableStatus,
    text: string | undefined,
  ): Promise<PresenceState>;
  query(userIds: readonly string[]): Promise<PresenceState[]>;
  /** Register this instance and start the heartbeat/sweep timer. */
  start(): Promise<void>;
  /** Graceful shutdown: remove this instance's connections and registration at once. */
  stop(): Promise<void>;
  /** The current registration id (`<instanceId>~<incarnation>`), for logs and tests. */
  registration(): string;
}

interface LocalConnection {
  socketId: string;
  userId: string;
  /** Registrations the store may hold this connection under (a write that threw may have applied). */
  heldUnder: Set<string>;
  /** The one the store holds it under for sure. */
  confirmed: string | undefined;
  gone: boolean;
  /** The socket connected (`connect`); until then it is a handshake's admission. */
  accepted: boolean;
  disconnectedAt: number;
  /** Store writes of one connection run one after the other. */
  queue: Promise<void>;
  syncQueued: boolean;
}

/** A sweep ends this many graces at most: bounds one sweep's work. */
const SETTLE_BATCH = 500;

/**
 * Who is online, per user, across devices and instances. Local connections are kept
 * in memory and mirrored to the store; a timer heart-beats this instance, re-registers
 * everything when the store forgot it (Redis restart, or declared dead after a stall),
 * retries writes that failed during an outage, reaps instances that stopped
 * heart-beating and takes users offline when their grace is over.
 */
export function createPresenceService(deps: PresenceServiceDeps): PresenceService {
  const { store, broadcaster, ttlMs } = deps;
  const log = deps.logger;
  const now = deps.now ?? Date.now;
  const heartbeatMs = Math.max(100, Math.floor(ttlMs / 3));

  const newRegistration = () => `${deps.instanceId}~${randomBytes(4).toString("hex")}`;
  let registration = newRegistration();
  let registered = false;
  /**
   * Since when this instance has reached the store without a failure. It only declares
   * others dead after a full TTL of its own healthy heartbeats: after an outage every
   * live instance first gets the chance to heart-beat again.
   */
  let healthySince: number | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const connections = new Map<string, LocalConnection>();
  /** Disconnects that could not be written (store down), retried on every heartbeat. */
  const failedRemovals: { conn: ConnectionRef; lastSeen: number }[] = [];
  const offlineTimers = new Map<string, NodeJS.Timeout>();

  const emit = (state: PresenceState) => {
    try {
      broadcaster.changed(state);
    } catch (err) {
      log.error({ err, userId: state.userId }, "presence broadcast failed");
    }
  };

  /** A local timer ends the grace exactly; the sweeps are the fallback when this instance dies. */
  const scheduleSettle = (userId: string, offlineAt: number) => {
    if (stopped) return;
    clearTimeout(offlineTimers.get(userId));
    const fire = () => {
      offlineTimers.delete(userId);
      store.settle(userId, now()).then(
        (result) => {
          if (result.changed) emit(result.state);
          else if (result.offlineAt !== undefined) scheduleSettle(userId, result.offlineAt);
        },
        (err: unknown) => log.warn({ userId, err: (err as Error).message }, "presence settle failed"),
      );
    };
    offlineTimers.set(userId, setTimeout(fire, Math.max(0, offlineAt - now())).unref());
  };

  const remove = async (conn: ConnectionRef, lastSeen: number): Promise<void> => {
    try {
      const result = await store.disconnect(conn, { now: now(), lastSeen });
      if (result.changed) emit(result.state);
      else if (result.removed && result.offlineAt !== undefined)
        scheduleSettle(conn.userId, result.offlineAt);
    } catch (err) {
      // Debug only: during an outage this happens for every connection; the heartbeat logs a summary.
      log.debug({ userId: conn.userId, err: (err as Error).message }, "presence disconnect not written");
      failedRemovals.push({ conn, lastSeen });
    }
  };

  /** Bring the store in line with one local connection: present under the current registration, or gone. */
  const sync = async (c: LocalConnection): Promise<void> => {
    if (c.gone) {
      const under = [...c.heldUnder];
      c.heldUnder.clear();
      c.confirmed = undefined;
      await Promise.all(
        under.map((instance) =>
          remove({ userId: c.userId, instance, socketId: c.socketId }, c.disconnectedAt),
        ),
      );
      return;
    }
    if (!registered || c.confirmed === registration) return;
    const instance = registration;
    c.heldUnder.add(instance);
    try {
      const result = await store.connect({ userId: c.userId, instance, socketId: c.socketId }, now());
      c.confirmed = instance;
      if (result.changed) emit(result.state);
    } catch (err) {
      log.debug({ userId: c.userId, err: (err as Error).message }, "presence connect not written");
      return;
    }
    // Moved to a new registration: drop the old entries only now, so the user never
    // looks disconnected in between.
    for (const old of [...c.heldUnder]) {
      if (old === instance) continue;
      c.heldUnder.delete(old);
      await remove({ userId: c.userId, instance: old, socketId: c.socketId }, now());
    }
  };

  /**
   * The admission's store write, in the connection's queue: the first write, counted
   * against the cap. A refusal forgets the connection, unless the socket was accepted
   * meanwhile (its handshake stopped waiting): then it is written like any other.
   */
  const admitWrite = async (c: LocalConnection, max: number): Promise<Admission> => {
    if (c.gone || !registered) return "unchecked";
    const instance = registration;
    c.heldUnder.add(instance);
    let result: Awaited<ReturnType<PresenceStore["connectWithin"]>>;
    try {
      result = await store.connectWithin({ userId: c.userId, instance, socketId: c.socketId }, now(), max);
    } catch (err) {
      log.debug({ userId: c.userId, err: (err as Error).message }, "presence admission not written");
      return "unchecked";
    }
    if (result === undefined) {
      c.heldUnder.delete(instance);
      if (c.accepted) {
        void scheduleSync(c);
      } else {
        // Refused handshakes never disconnect: a sync queued meanwhile (a heartbeat) must write nothing.
        c.gone = true;
        if (connections.get(c.socketId) === c) connections.delete(c.socketId);
      }
      return "full";
    }
    c.confirmed = instance;
    if (result.changed) emit(result.state);
    return "admitted";
  };

  const track = (socketId: string, userId: string, accepted: boolean): LocalConnection => {
    const c: LocalConnection = {
      socketId,
      userId,
      heldUnder: new Set(),
      confirmed: undefined,
      gone: false,
      accepted,
      disconnectedAt: 0,
      queue: Promise.resolve(),
      syncQueued: false,
    };
    connections.set(socketId, c);
    return c;
  };

  const scheduleSync = (c: LocalConnection): Promise<void> => {
    if (!c.syncQueued) {
      c.syncQueued = true;
      c.queue = c.queue
        .then(() => {
          c.syncQueued = false;
          return sync(c);
        })
        .catch((err: unknown) => log.error({ err, userId: c.userId }, "presence sync failed"));
    }
    return c.queue;
  };

  const retryFailedRemovals = async () => {
    const batch = failedRemovals.splice(0);
    await Promise.all(batch.map(({ conn, lastSeen }) => remove(conn, lastSeen)));
  };

  /** Heart-beat, and register again under a new id when the store forgot this instance. */
  const beat = async () => {
    const t = now();
    try {
      if (!(await store.heartbeat(registration, t))) {
        if (stopped) return;
        if (registered) {
          registration = newRegistration();
          log.warn(
            { registration, connections: connections.size },
            "presence registration was lost (Redis restarted or this instance was declared dead): re-registering",
          );
        }
        await store.registerInstance(registration, t);
        registered = true;
      }
      healthySince ??= t;
    } catch (err) {
      healthySince = undefined;
      log.warn({ err: (err as Error).message }, "presence heartbeat failed");
      return;
    }
    let unwritten = 0;
    for (const c of connections.values()) {
      if (c.confirmed === registration) continue;
      unwritten += 1;
      void scheduleSync(c);
    }
    if (unwritten > 0 || failedRemovals.length > 0) {
      log.debug(
        { connects: unwritten, disconnects: failedRemovals.length },
        "presence writing what it could not",
      );
    }
    await retryFailedRemovals();
  };

  /** Reap dead instances and end graces that are over, whoever's they are. */
  const sweep = async () => {
    const t = now();
    if (healthySince === undefined) return;
    try {
      if (t - healthySince >= ttlMs) {
        for (const state of await store.reap(t - ttlMs, t)) emit(state);
      }
      for (const state of await store.settleDue(t, SETTLE_BATCH)) emit(state);
    } catch (err) {
      log.warn({ err: (err as Error).message }, "presence sweep failed");
    }
  };

  // Separate guards: a long sweep (a big dead instance) must never hold up this
  // instance's own heartbeat, or it would be declared dead in turn.
  const running: { beat?: Promise<void>; sweep?: Promise<void> } = {};
  const runOnce = (name: "beat" | "sweep", task: () => Promise<void>) => {
    if (running[name] || stopped) return;
    running[name] = task()
      .catch((err: unknown) => log.error({ err }, `presence ${name} failed`))
      .finally(() => {
        running[name] = undefined;
      });
  };

  return {
    admit(socketId, userId, max) {
      if (stopped) return Promise.resolve("unchecked");
      const c = track(socketId, userId, false);
      const admission = c.queue.then(() => admitWrite(c, max));
      c.queue = admission.then(
        () => undefined,
        (err: unknown) => log.error({ err, userId }, "presence admission failed"),
      );
      return admission;
    },

    connect(socketId, userId) {
      if (stopped) return;
      const admitted = connections.get(socketId);
      if (admitted) {
        admitted.accepted = true;
        return;
      }
      void scheduleSync(track(socketId, userId, true));
    },

    disconnect(socketId) {
      const c = connections.get(socketId);
      if (!c) return;
      connections.delete(socketId);
      c.gone = true;
      c.disconnectedAt = now();
      void scheduleSync(c);
    },

    async set(socketId, userId, status, text) {
      const c = connections.get(socketId);
      if (stopped || !c) throw new AppError("UNAVAILABLE", "the server is shutting down");
      // The connection must be in the store before its status is: otherwise the set
      // would land on a user the store still thinks is offline.
      if (c.confirmed !== registration) await scheduleSync(c);
      if (c.confirmed !== registration) throw new AppError("UNAVAILABLE");
      const result = await store.setStatus(userId, status, text, now());
      if (result.changed) emit(result.state);
      return result.state;
    },

    query(userIds) {
      return store.get([...new Set(userIds)], now());
    },

    async start() {
      await beat();
      timer = setInterval(() => {
        runOnce("beat", beat);
        runOnce("sweep", sweep);
      }, heartbeatMs).unref();
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      for (const t of offlineTimers.values()) clearTimeout(t);
      offlineTimers.clear();
      await Promise.all([running.beat, running.sweep]);
      const local = [...connections.values()];
      connections.clear();
      const at = now();
      for (const c of local) {
        c.gone = true;
        c.disconnectedAt = at;
      }
      // Users still get their grace: the survivors' sweeps take them offline if they do
      // not reconnect elsewhere in time.
      await Promise.all(local.map(scheduleSync));
      await retryFailedRemovals();
      try {
        if (registered) await store.unregisterInstance(registration);
      } catch (err) {
        log.warn(
          { err: (err as Error).message },
          "presence unregister failed: survivors will reap this instance",
        );
      }
      log.info({ connections: local.length, pendingRetries: failedRemovals.length }, "presence stopped");
    },

    registration: () => registration,
  };
}
