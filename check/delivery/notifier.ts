import type { Cluster, Instance } from "./cluster.js";
import { CHECK_API_KEY } from "./cluster.js";
import type { Random } from "./random.js";
import { sleep } from "./wire.js";

export interface Publish {
  key: string;
  userIds: string[];
  attempts: number;
  /** The ids of the 202 answer, per user. */
  acked?: Map<string, string>;
  /** Status of every attempt (0: no answer), for the report. */
  statuses: number[];
}

// Longer than the 3 s a server waits on a key still in progress before it answers 503.
const REQUEST_TIMEOUT_MS = 5000;

/**
 * A backend publishing notifications through `POST /internal/notifications` with an
 * `idempotencyKey`, retrying every failure (503, no answer, a dead instance) with the same
 * key on a random live instance until it gets 202 or its deadline passes.
 */
export class Notifier {
  readonly publishes: Publish[] = [];
  private readonly outstanding = new Set<Promise<void>>();
  private n = 0;

  constructor(
    private readonly cluster: Cluster,
    private readonly userIds: string[],
    private readonly random: Random,
    private readonly runId: string,
    /** How long one publish is retried at most. */
    private readonly deadlineMs: number,
    /** No publish is retried after this (epoch ms): the run's end is bounded. */
    private readonly lastRetryAt: number,
  ) {}

  /** One new publish; `first` is the instance its first attempt goes to (a fault aims it at a victim). */
  publish(first?: Instance): void {
    this.n += 1;
    const count = this.random.int(1, Math.min(3, this.userIds.length));
    const publish: Publish = {
      key: `${this.runId}-n${this.n}`,
      userIds: this.random.shuffle(this.userIds).slice(0, count),
      attempts: 0,
      statuses: [],
    };
    this.publishes.push(publish);
    const run = this.run(publish, first, Math.min(Date.now() + this.deadlineMs, this.lastRetryAt));
    this.outstanding.add(run);
    void run.finally(() => this.outstanding.delete(run));
  }

  private async run(publish: Publish, first: Instance | undefined, deadline: number): Promise<void> {
    let target = first;
    while (Date.now() < deadline) {
      target ??= this.pickAlive();
      if (target) {
        publish.attempts += 1;
        const status = await this.post(target, publish);
        publish.statuses.push(status);
        if (status === 202) return;
      }
      target = undefined;
      await sleep(200 + this.random.int(0, 300));
    }
  }

  private pickAlive(): Instance | undefined {
    const alive = this.cluster.alive();
    return alive.length > 0 ? this.random.pick(alive) : undefined;
  }

  private async post(target: Instance, publish: Publish): Promise<number> {
    try {
      const res = await fetch(`${target.url}/internal/notifications`, {
        method: "POST",
        headers: { authorization: `Bearer ${CHECK_API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({
          userIds: publish.userIds,
          type: "check.delivery",
          title: `notification ${publish.key}`,
          data: { key: publish.key },
          idempotencyKey: publish.key,
        }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const body = (await res.json().catch(() => undefined)) as
        | { notifications?: { userId: string; id: string }[] }
        | undefined;
      if (res.status === 202 && body?.notifications) {
        publish.acked = new Map(body.notifications.map((n) => [n.userId, n.id]));
      }
      return res.status;
    } catch {
      return 0;
    }
  }

  /** Waits for every publish under way (each bounded by its deadline). */
  async settle(): Promise<void> {
    await Promise.all([...this.outstanding]);
  }
}
