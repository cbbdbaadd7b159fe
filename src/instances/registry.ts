import { randomBytes } from "node:crypto";
import type { Logger } from "../infra/logger.js";
import type { DeadRegistration, InstanceStore } from "./store.js";

/**
 * What a feature that keeps shared state under this instance's registration plugs in
 * (presence's connections, chat's room members).
 */
export interface RegistryParticipant {
  /**
   * After every heartbeat that reached the store, with the registration this instance
   * holds now: a new one when the store had lost the previous one, and the feature
   * must write what it holds again under it.
   */
  afterBeat?(registration: string): Promise<void>;
  /**
   * Remove what the feature holds under a dead registration. True once nothing is left:
   * the registry forgets the registration when every participant says so.
   */
  reap?(dead: DeadRegistration, now: number): Promise<boolean>;
  /** After every sweep while the store can be reached: the feature's own periodic cleanup. */
  afterSweep?(now: number): Promise<void>;
}

export interface InstanceRegistry {
  /** This process's registration (`<instanceId>~<random>`); undefined until the store first took one. */
  current(): string | undefined;
  join(participant: RegistryParticipant): void;
  /** Register, then heart-beat and sweep every third of the TTL. */
  start(): Promise<void>;
  /**
   * Stop heart-beating. The registration is left to expire: the survivors declare it dead
   * a TTL later and reap whatever the features could not remove in their own stop.
   */
  stop(): Promise<void>;
}

export interface InstanceRegistryDeps {
  store: InstanceStore;
  instanceId: string;
  /** An instance silent for this long is dead; heartbeats and sweeps run every third of it. */
  ttlMs: number;
  logger: Logger;
  now?: () => number;
}

/** Dead registrations cleaned per sweep: bounds one sweep's work. */
const REAP_BATCH = 50;

/**
 * The one detector of dead instances. Each instance heart-beats its registration; every
 * instance sweeps: a registration silent for a TTL is declared dead and each participant
 * removes what it held (once each: the participants' removals are atomic per user or
 * room, whichever instance runs them). An instance whose registration the store lost
 * (Redis lost it, or it was declared dead after a stall) registers again under a new id,
 * lets the participants write under it, then declares the old one dead so that whatever
 * is left under it is reaped too.
 */
export function createInstanceRegistry(deps: InstanceRegistryDeps): InstanceRegistry {
  const { store, ttlMs } = deps;
  const log = deps.logger.child({ module: "instances" });
  const now = deps.now ?? Date.now;
  const heartbeatMs = Math.max(100, Math.floor(ttlMs / 3));
  const participants: RegistryParticipant[] = [];

  const newRegistration = () => `${deps.instanceId}~${randomBytes(4).toString("hex")}`;
  let registration = newRegistration();
  let registered = false;
  let lastBeat = 0;
  /**
   * Since when this instance has reached the store without a failure. It only declares
   * others dead after a full TTL of its own healthy heartbeats: after an outage every
   * live instance first gets the chance to heart-beat again.
   */
  let healthySince: number | undefined;
  /** Registrations given up (the store had lost them) still to be declared dead. */
  const abandoned: { registration: string; lastBeat: number }[] = [];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  /**
   * The participants bring the store in line with this instance (a new registration: all
   * of it); then the registrations given up are declared dead, so that reaping them
   * announces nothing for what is still here.
   */
  const sync = async () => {
    // Only those given up before the participants started: a later one waits for the next sync.
    const given = abandoned.length;
    for (const p of participants) {
      try {
        await p.afterBeat?.(registration);
      } catch (err) {
        log.error({ err }, "instance heartbeat follow-up failed");
      }
    }
    for (let i = 0; i < given; i++) {
      const old = abandoned[0] as { registration: string; lastBeat: number };
      try {
        await store.declareDead(old.registration, old.lastBeat);
      } catch (err) {
        log.warn({ err: (err as Error).message }, "a lost registration is not declared dead yet");
        return;
      }
      abandoned.shift();
    }
  };

  /** Heart-beat, and register again under a new id when the store forgot this instance. */
  const beat = async () => {
    const t = now();
    try {
      if (!(await store.heartbeat(registration, t))) {
        if (stopped) return;
        if (registered) {
          const lost = registration;
          abandoned.push({ registration: lost, lastBeat });
          registration = newRegistration();
          log.warn(
            { registration, lost },
            "instance registration was lost (Redis lost it or this instance was declared dead): registering again",
          );
        }
        await store.register(registration, t);
        registered = true;
      }
      lastBeat = t;
      healthySince ??= t;
    } catch (err) {
      healthySince = undefined;
      log.warn({ err: (err as Error).message }, "instance heartbeat failed");
      return;
    }
    runOnce("sync", sync);
  };

  const reap = async (dead: DeadRegistration, t: number) => {
    const clean = await Promise.all(participants.map((p) => p.reap?.(dead, t) ?? true));
    if (clean.every(Boolean)) await store.forget(dead.registration);
  };

  /** Reap dead registrations, whoever's they are, then the participants' own cleanup. */
  const sweep = async () => {
    const t = now();
    if (healthySince === undefined) return;
    try {
      if (t - healthySince >= ttlMs) {
        for (const dead of await store.claimDead(t - ttlMs, REAP_BATCH)) await reap(dead, t);
      }
      for (const p of participants) await p.afterSweep?.(t);
    } catch (err) {
      log.warn({ err: (err as Error).message }, "instance sweep failed");
    }
  };

  // Separate guards: a long sweep (a big dead instance) or a long rewrite (a new
  // registration) must never hold up this instance's own heartbeat, or it would be
  // declared dead in turn.
  const running: { beat?: Promise<void>; sync?: Promise<void>; sweep?: Promise<void> } = {};
  function runOnce(name: keyof typeof running, task: () => Promise<void>): void {
    if (running[name] || stopped) return;
    running[name] = task()
      .catch((err: unknown) => log.error({ err }, `instance ${name} failed`))
      .finally(() => {
        running[name] = undefined;
      });
  }

  return {
    current: () => (registered ? registration : undefined),
    join(participant) {
      participants.push(participant);
    },
    async start() {
      await beat();
      await running.sync;
      timer = setInterval(() => {
        runOnce("beat", beat);
        runOnce("sweep", sweep);
      }, heartbeatMs).unref();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await Promise.all([running.beat, running.sync, running.sweep]);
    },
  };
}
