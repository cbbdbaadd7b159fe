import type { LinkShape } from "../../test/helpers/tcp-proxy.js";
import type { ClientLink } from "./client-link.js";
import { type Cluster, type Instance, REDIS_ROLES, type RedisRole } from "./cluster.js";
import type { Notifier } from "./notifier.js";
import type { Random } from "./random.js";
import { sleep } from "./wire.js";

export const FAULT_KINDS = [
  "instance-kill",
  "redis-restart",
  "pubsub-kill",
  "slow-publish",
  "stall-history",
  "sub-stall",
  "link-cut",
  "client-cut",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** Client cuts run all along; the others take turns on the schedule. */
type ScheduledKind = Exclude<FaultKind, "client-cut">;

/** One fault of the schedule, every choice made up front from the seed. */
export interface PlannedFault {
  /** ms after traffic started (a fault that would overlap the previous one waits for it). */
  at: number;
  kind: ScheduledKind;
  instance: number;
  /** The receiver a stalled history read is aimed at. */
  receiver: number;
  role: RedisRole;
  /** How long the fault holds (instance or Redis down, link slow or stalled). */
  holdMs: number;
  /** The added latency of a slow link; for a kill, four times the pause between its burst and the kill. */
  delayMs: number;
}

const KILL_LINK_DELAY_MS = 100;
const KILL_BURST_SPREAD_MS = 1000;

const HOLD_MS: Record<ScheduledKind, [number, number]> = {
  "instance-kill": [800, 2500],
  "redis-restart": [200, 1500],
  "pubsub-kill": [0, 0],
  "slow-publish": [1500, 3500],
  // Around the instances' 2 s command timeout: some stalled joins are answered late, some fail.
  "stall-history": [500, 3000],
  "sub-stall": [400, 2000],
  "link-cut": [0, 0],
};

/**
 * The fault schedule of a run: an instance kill first (the notifications it interrupts
 * then have the rest of the run to be retried), then every other kind in a seeded order,
 * round after round, one every `gapMs` on average, until `durationMs` (minus a quiet end).
 */
export function planFaults(
  random: Random,
  kinds: readonly FaultKind[],
  durationMs: number,
  gapMs: number,
  instances: number,
): PlannedFault[] {
  const scheduled = kinds.filter((k): k is ScheduledKind => k !== "client-cut");
  if (scheduled.length === 0) return [];
  const plan: PlannedFault[] = [];
  let round: ScheduledKind[] = scheduled.includes("instance-kill")
    ? ["instance-kill", ...random.shuffle(scheduled.filter((k) => k !== "instance-kill"))]
    : random.shuffle(scheduled);
  let at = Math.min(1500, gapMs);
  while (at < durationMs - 2000) {
    const kind = round.shift() as ScheduledKind;
    const [minHold, maxHold] = HOLD_MS[kind];
    plan.push({
      at,
      kind,
      instance: random.int(0, instances - 1),
      receiver: random.int(0, 1_000_000),
      role: random.pick(REDIS_ROLES),
      holdMs: random.int(minHold, maxHold),
      delayMs: random.int(100, 400),
    });
    if (round.length === 0) round = random.shuffle(scheduled);
    at += Math.round(gapMs * (0.5 + random.next()));
  }
  return plan;
}

export interface FaultTargets {
  cluster: Cluster;
  /** Receivers' links (a stalled history read moves one of them). */
  receivers: ClientLink[];
  /** Every client's link (random cuts). */
  clients: ClientLink[];
  notifier: Notifier;
  /** Notifications aimed at an instance just before it is killed. */
  killBurst: number;
}

/** Runs the schedule and the background client cuts, and heals everything at the end. */
export class FaultRunner {
  readonly counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  /** What happened when, for the report (and to compare a replay with). */
  readonly journal: string[] = [];
  private cutting = false;
  private cuts: Promise<void> | undefined;
  private startedAt = Date.now();

  constructor(
    private readonly targets: FaultTargets,
    private readonly random: Random,
  ) {}

  private note(line: string): void {
    this.journal.push(`t+${((Date.now() - this.startedAt) / 1000).toFixed(1)}s ${line}`);
  }

  async runPlan(plan: PlannedFault[], startedAt: number, stopped: () => boolean): Promise<void> {
    this.startedAt = startedAt;
    for (const fault of plan) {
      const wait = startedAt + fault.at - Date.now();
      if (wait > 0) await sleep(wait);
      if (stopped()) return;
      await this.inject(fault);
      this.counts[fault.kind] += 1;
    }
  }

  private instance(fault: PlannedFault): Instance {
    const { instances } = this.targets.cluster;
    return instances[fault.instance % instances.length] as Instance;
  }

  private inject(fault: PlannedFault): Promise<void> {
    const target = this.instance(fault);
    switch (fault.kind) {
      case "instance-kill":
        return this.killInstance(target, fault);
      case "redis-restart":
        this.note(`redis-restart (SIGKILL, down ${fault.holdMs} ms)`);
        return this.targets.cluster.restartRedis(fault.holdMs);
      case "pubsub-kill":
        return this.killSubscribers();
      case "slow-publish":
        this.note(`slow-publish ${target.name} (+${fault.delayMs} ms each way for ${fault.holdMs} ms)`);
        return this.shapeFor(target, ["cmd", "pub"], { delayMs: fault.delayMs }, fault.holdMs);
      case "stall-history":
        return this.stallHistory(target, fault);
      case "sub-stall":
        this.note(`sub-stall ${target.name} (${fault.holdMs} ms)`);
        return this.shapeFor(target, ["sub"], { stalled: true }, fault.holdMs);
      case "link-cut": {
        const cut = target.redisLink.cut((c) => c.tag === fault.role);
        this.note(`link-cut ${target.name} ${fault.role} (${cut} connections)`);
        return Promise.resolve();
      }
    }
  }

  /** Shapes some of an instance's Redis links for a while, then clears them. */
  private async shapeFor(target: Instance, roles: RedisRole[], shape: Partial<LinkShape>, ms: number) {
    for (const role of roles) target.redisLink.shape(role, shape);
    await sleep(ms);
    target.redisLink.clear();
  }

  private async killInstance(target: Instance, fault: PlannedFault): Promise<void> {
    // With 100 ms each way on its command link a publish takes about 800 ms (rate limit,
    // claim, insert, complete: one round trip each), and a burst spread over the second
    // before the kill leaves requests at every step of that work when the kill lands.
    target.redisLink.shape("cmd", { delayMs: KILL_LINK_DELAY_MS });
    const burst = this.targets.killBurst;
    for (let i = 0; i < burst; i++) {
      this.targets.notifier.publish(target);
      await sleep(KILL_BURST_SPREAD_MS / burst);
    }
    await sleep(fault.delayMs / 4);
    await target.kill();
    target.redisLink.clear();
    this.note(`instance-kill ${target.name} (down ${fault.holdMs} ms, ${burst} notifications aimed at it)`);
    await sleep(fault.holdMs);
    await target.start();
  }

  private async killSubscribers(): Promise<void> {
    const killed = await this.targets.cluster.admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    this.note(`pubsub-kill (CLIENT KILL TYPE pubsub: ${killed} connections)`);
  }

  /** A receiver rejoins on an instance whose command link (its history read) is stalled. */
  private async stallHistory(target: Instance, fault: PlannedFault): Promise<void> {
    const receivers = this.targets.receivers;
    const index = fault.receiver % receivers.length;
    const receiver = receivers[index] as ClientLink;
    this.note(`stall-history ${target.name} (${fault.holdMs} ms, receiver #${index} moved there)`);
    target.redisLink.shape("cmd", { stalled: true });
    receiver.steerNext(target);
    receiver.cut();
    await sleep(fault.holdMs);
    target.redisLink.clear();
  }

  /** Cuts a random client's connection every `everyMs` on average until `heal`. */
  startClientCuts(everyMs: number): void {
    const clients = this.targets.clients;
    if (clients.length === 0) return;
    this.cutting = true;
    this.cuts = (async () => {
      while (this.cutting) {
        await sleep(Math.round(everyMs * (0.5 + this.random.next())));
        if (!this.cutting) return;
        if (this.random.pick(clients).cut()) this.counts["client-cut"] += 1;
      }
    })();
  }

  /** No fault left behind: cuts stop, links clear, dead instances come back. */
  async heal(): Promise<void> {
    this.cutting = false;
    await this.cuts;
    for (const instance of this.targets.cluster.instances) {
      instance.redisLink.clear();
      if (!instance.alive) await instance.start();
    }
  }
}
