/** How big each scenario is. `quick` fits CI (about a minute on 2 cores); `full` is the real measurement. */
export interface BenchSize {
  name: "quick" | "full";
  ramp: {
    connections: number;
    /** Handshakes in flight at once. */
    concurrency: number;
    /** Connections opened and closed before the "before" memory reading, so lazy init is not billed per connection. */
    warmupConnections: number;
    settleMs: number;
  };
  fanout: {
    rooms: number;
    members: number;
    /** Offered chat:send per second of the first step; each next step multiplies it by `growth`. */
    firstRate: number;
    growth: number;
    maxSteps: number;
    /** Extra steps between the last unsaturated and the first saturated rate. */
    refineSteps: number;
    stepMs: number;
    warmupRate: number;
    warmupMs: number;
    maxInFlight: number;
    drainTimeoutMs: number;
    textBytes: number;
    /**
     * The fixed step at 50 % of the baseline's saturation load, where the p99 bar is read:
     * long enough that one stall (a major GC, a descheduled process) does not decide it.
     */
    halfLoadMs: number;
  };
  notify: {
    users: number;
    batchSize: number;
    requests: number;
    concurrency: number;
  };
  /** Many instances over one Redis, idle connections, then a SIGKILL (docs/benchmark.md). */
  scale: {
    instances: number;
    connections: number;
    /** Load-generator processes: each holds fewer than 20,000 sockets (the open-file limit). */
    workers: number;
    /** Source addresses 127.0.1.1…: each has about 28,000 ephemeral ports. */
    addresses: number;
    /** Handshakes in flight at once, per load-generator process. */
    concurrency: number;
    /** How long the idle figures are measured over. */
    idleMs: number;
    /** PRESENCE_TTL_MS of the service: the killed instance is reaped about this long after its last heartbeat. */
    presenceTtlMs: number;
    /** Give up waiting for the killed instance's clients (and for presence) after this. */
    backTimeoutMs: number;
  };
  /** The moderation hook's cost: the fan-out rooms at one fixed rate, without and then with the hook. */
  moderation: {
    ratePerSec: number;
    stepMs: number;
  };
}

export const SIZES: Record<BenchSize["name"], BenchSize> = {
  quick: {
    name: "quick",
    ramp: { connections: 500, concurrency: 50, warmupConnections: 20, settleMs: 300 },
    fanout: {
      rooms: 20,
      members: 5,
      firstRate: 300,
      growth: 2,
      maxSteps: 4,
      refineSteps: 0,
      stepMs: 1500,
      warmupRate: 200,
      warmupMs: 800,
      maxInFlight: 500,
      drainTimeoutMs: 5000,
      textBytes: 64,
      halfLoadMs: 1500,
    },
    notify: { users: 100, batchSize: 50, requests: 100, concurrency: 4 },
    scale: {
      instances: 3,
      connections: 3000,
      workers: 2,
      addresses: 2,
      concurrency: 50,
      idleMs: 3000,
      presenceTtlMs: 3000,
      backTimeoutMs: 60_000,
    },
    moderation: { ratePerSec: 200, stepMs: 3000 },
  },
  full: {
    name: "full",
    ramp: { connections: 10_000, concurrency: 100, warmupConnections: 100, settleMs: 2000 },
    fanout: {
      rooms: 100,
      members: 10,
      firstRate: 250,
      growth: 1.5,
      maxSteps: 14,
      refineSteps: 2,
      stepMs: 6000,
      warmupRate: 250,
      warmupMs: 3000,
      maxInFlight: 2000,
      drainTimeoutMs: 10_000,
      textBytes: 64,
      halfLoadMs: 30_000,
    },
    notify: { users: 2000, batchSize: 100, requests: 1000, concurrency: 8 },
    scale: {
      instances: 6,
      connections: 100_000,
      workers: 7,
      addresses: 8,
      concurrency: 100,
      idleMs: 20_000,
      presenceTtlMs: 15_000,
      backTimeoutMs: 180_000,
    },
    moderation: { ratePerSec: 500, stepMs: 15_000 },
  },
};

/** Shorter steps for a trial run of a size (`--duration-scale 0.3`); counts stay the same. */
export function scaleDurations(size: BenchSize, factor: number): BenchSize {
  if (factor === 1) return size;
  const ms = (v: number) => Math.max(300, Math.round(v * factor));
  return {
    ...size,
    ramp: { ...size.ramp, settleMs: ms(size.ramp.settleMs) },
    fanout: {
      ...size.fanout,
      stepMs: ms(size.fanout.stepMs),
      warmupMs: ms(size.fanout.warmupMs),
      halfLoadMs: ms(size.fanout.halfLoadMs),
    },
    moderation: { ...size.moderation, stepMs: ms(size.moderation.stepMs) },
  };
}

/**
 * The scale scenario at another size (`--scale 3x15000`): load generators hold at most
 * 15,000 sockets each, source addresses about 12,500 each (under the open-file and
 * ephemeral-port limits).
 */
export function withScaleSize(size: BenchSize, spec: string): BenchSize {
  const match = /^(\d+)x(\d+)$/.exec(spec);
  const instances = Number(match?.[1]);
  const connections = Number(match?.[2]);
  if (!match || instances < 2 || connections < instances) {
    throw new Error(`--scale ${spec}: expected MxN with M >= 2 instances and N >= M connections`);
  }
  if (connections / instances >= 20_000)
    throw new Error(`--scale ${spec}: 20,000 sockets per instance at most`);
  return {
    ...size,
    scale: {
      ...size.scale,
      instances,
      connections,
      workers: Math.ceil(connections / 15_000) + 1,
      addresses: Math.ceil(connections / 12_500),
    },
  };
}
