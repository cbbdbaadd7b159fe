import type { Logger } from "../infra/logger.js";
import type { InstanceRegistry } from "../instances/registry.js";
import { AppError, type PresenceState } from "../protocol/index.js";
import type { ConnectionRef, PresenceStore, SettableStatus } from "./store.js";

/** How presence changes leave the service; the socket layer implements it. */
export interface PresenceBroadcaster {
  changed(state: PresenceState): void;
}

export interface PresenceServiceDeps {
  store: PresenceStore;
  broadcaster: PresenceBroadcaster;
  /** Connections are held under this instance's registration; dead instances' are reaped through it. */
  registry: InstanceRegistry;
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
  /** Graceful shutdown: remove this instance's connections at once. */
  stop(): Promise<void>;
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
 * in memory and mirrored to the store under this instance's registration. On every
 * heartbeat of the instance registry it writes everything again when the registration
 * is new (Redis lost it, or this instance was declared dead after a stall) and retries
 * writes that failed during an outage; on every sweep it removes the connections of dead
 * instances and takes users offline when their grace is over.
 */
export function createPresenceService(deps: PresenceServiceDeps): PresenceService {
  const { store, broadcaster, registry } = deps;
  const log = deps.logger;
  const now = deps.now ?? Date.now;
  let stopped = false;

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
    const instance = registry.current();
    if (instance === undefined || c.confirmed === instance) return;
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
    const instance = registry.current();
    if (c.gone || instance === undefined) return "unchecked";
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

  /** Whether the store holds the connection under this instance's current registration. */
  const confirmed = (c: LocalConnection): boolean =>
    c.confirmed !== undefined && c.confirmed === registry.current();

  registry.join({
    // Every heartbeat: write what could not be written, under a new registration everything
    // (waited for: the registry declares the old registration dead only after this).
    async afterBeat() {
      if (stopped) return;
      const writes: Promise<void>[] = [];
      for (const c of connections.values()) {
        if (!confirmed(c)) writes.push(scheduleSync(c));
      }
      if (writes.length > 0 || failedRemovals.length > 0) {
        log.debug(
          { connects: writes.length, disconnects: failedRemovals.length },
          "presence writing what it could not",
        );
      }
      await Promise.all([...writes, retryFailedRemovals()]);
    },
    async reap(dead, t) {
      // A stopped instance leaves the dead to the survivors.
      if (stopped) return false;
      const { changes, done } = await store.reap(dead, t);
      for (const state of changes) emit(state);
      return done;
    },
    // End the graces that are over, whoever's they are.
    async afterSweep(t) {
      if (stopped) return;
      for (const state of await store.settleDue(t, SETTLE_BATCH)) emit(state);
    },
  });

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
      if (!confirmed(c)) await scheduleSync(c);
      if (!confirmed(c)) throw new AppError("UNAVAILABLE");
      const result = await store.setStatus(userId, status, text, now());
      if (result.changed) emit(result.state);
      return result.state;
    },

    query(userIds) {
      return store.get([...new Set(userIds)], now());
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of offlineTimers.values()) clearTimeout(t);
      offlineTimers.clear();
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
      // What could not be removed now stays under the registration, which the survivors
      // declare dead a TTL after the last heartbeat and reap.
      await retryFailedRemovals();
      log.info({ connections: local.length, pendingRetries: failedRemovals.length }, "presence stopped");
    },
  };
}
