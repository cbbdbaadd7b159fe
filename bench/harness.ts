import { mkdirSync } from "node:fs";
import { Histogram, type LatencySummary } from "./histogram.js";
import type { ConnectResult, JoinResult, NotifyResult, StepResult } from "./load-protocol.js";
import { BENCH_HOOK_KEY, ModerationReceiver } from "./moderation-receiver.js";
import {
  BENCH_API_KEY,
  BENCH_JWT_SECRET,
  BenchRedis,
  BenchServer,
  type CpuSnapshot,
  cpuBetween,
  killAllChildren,
  LoadWorker,
  type MemorySnapshot,
  machineTicks,
  processTicks,
  type ServerKind,
} from "./processes.js";
import { runScale, type ScaleResult } from "./scale.js";
import type { BenchSize } from "./sizes.js";

export const SCENARIOS = ["ramp", "fanout", "fanout2", "notify", "scale", "moderation"] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
/** Without --scenarios: `scale` (many instances, 100,000 connections at full size) only when asked for. */
export const DEFAULT_SCENARIOS: readonly ScenarioName[] = [
  "ramp",
  "fanout",
  "fanout2",
  "notify",
  "moderation",
];

export interface BenchOptions {
  size: BenchSize;
  scenarios: readonly ScenarioName[];
  /** Run order; the baseline goes first so its saturation load is known when the service runs. */
  servers: readonly ServerKind[];
  /** Write a CPU profile of each server's fan-out steps here (.cpuprofile). */
  profileDir?: string;
  log?: (line: string) => void;
}

export interface ServerCpu {
  cpuPercent: number;
  elu: number;
}

export interface RampResult {
  connect: ConnectResult;
  before: MemorySnapshot;
  after: MemorySnapshot;
  rssPerConnection: number;
  heapPerConnection: number;
  server: ServerCpu;
}

export interface MeasuredStep extends StepResult {
  servers: ServerCpu[];
  /** Redis's CPU over the step, % of one core. */
  redisCpuPercent: number;
  /** All cores of the machine, % busy: near 100 the machine, not one process, was the limit. */
  machineBusyPercent: number;
  saturated: boolean;
  reason: string;
}

export interface FanoutResult {
  instances: number;
  connect: ConnectResult;
  join: JoinResult;
  steps: MeasuredStep[];
  /** The highest delivered msgs/s over the steps; `reached` is false when no step saturated the server. */
  saturation: { deliveredPerSec: number; sendsPerSec: number; step: number; reached: boolean };
  half?: MeasuredStep;
  profiles: string[];
}

export interface NotifyScenarioResult extends NotifyResult {
  connect: ConnectResult;
  server: ServerCpu;
}

/** The same fan-out step on one service instance, without and with the moderation hook (MESSAGE_HOOK_URL). */
export interface ModerationScenarioResult {
  ratePerSec: number;
  without: MeasuredStep;
  withHook: MeasuredStep;
  /** Calls the receiver answered during the run with the hook (warm-up included). */
  hookCalls: number;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

export interface BenchRun {
  ramp: Partial<Record<ServerKind, Outcome<RampResult>>>;
  fanout: Partial<Record<ServerKind, Outcome<FanoutResult>>>;
  fanout2: Partial<Record<ServerKind, Outcome<FanoutResult>>>;
  notify: Partial<Record<ServerKind, Outcome<NotifyScenarioResult>>>;
  scale: Partial<Record<ServerKind, Outcome<ScaleResult>>>;
  /** The service only: the baseline has no moderation hook. */
  moderation: Partial<Record<ServerKind, Outcome<ModerationScenarioResult>>>;
  redisVersion: string;
  startedAt: string;
  elapsedMs: number;
}

export const summarize = (json: StepResult["e2e"]): LatencySummary => Histogram.fromJSON(json).summary();

async function cpuOf(servers: BenchServer[]): Promise<CpuSnapshot[]> {
  return Promise.all(servers.map((s) => s.probe<CpuSnapshot>("cpu")));
}

function cpuDelta(a: CpuSnapshot[], b: CpuSnapshot[]): ServerCpu[] {
  return a.map((snapshot, i) => cpuBetween(snapshot, b[i] as CpuSnapshot));
}

/** Why a step counts as past saturation, or "" when the server kept up. */
function saturationReason(step: StepResult, maxP99Ms: number): string {
  const e2e = summarize(step.e2e);
  if (step.lost > 0 || step.ackMissing > 0 || Object.keys(step.ackErrors).length > 0) return "loss or errors";
  if (step.throttled > step.offered * 0.02) return "in-flight cap reached";
  if (step.deliveredPerSec < 0.9 * step.ratePerSec * step.membersPerRoom)
    return "delivered < 90 % of offered";
  if (e2e.p99Ms > maxP99Ms) return `p99 > ${maxP99Ms} ms`;
  return "";
}

async function withServers<T>(
  kind: ServerKind,
  instances: number,
  redis: BenchRedis,
  body: (servers: BenchServer[], worker: LoadWorker) => Promise<T>,
  env: Record<string, string> = {},
): Promise<T> {
  await redis.flush();
  const servers: BenchServer[] = [];
  let worker: LoadWorker | undefined;
  try {
    for (let i = 0; i < instances; i++) {
      servers.push(await BenchServer.start(kind, { redisUrl: redis.url, instance: i, env }));
    }
    worker = LoadWorker.start();
    const value = await body(servers, worker);
    const dead = servers.find((s) => !s.alive);
    if (dead) throw new Error(`${kind} server died:\n${dead.output.join("").slice(-2000)}`);
    return value;
  } finally {
    await worker?.stop();
    await Promise.all(servers.map((s) => s.stop()));
  }
}

function connectCommand(kind: ServerKind, urls: string[], count: number, concurrency: number) {
  return {
    cmd: "connect" as const,
    urls,
    count,
    userPrefix: "bench-u",
    sendUserId: kind === "baseline",
    secret: BENCH_JWT_SECRET,
    concurrency,
    timeoutMs: 20_000,
  };
}

function requireAll(what: string, result: { failed: number; errors: string[] }): void {
  if (result.failed > 0) throw new Error(`${what}: ${result.failed} failed (${result.errors.join("; ")})`);
}

/** With --profile, how long the ramp's connections are profiled idle after it. */
const IDLE_PROFILE_MS = 10_000;

async function runRamp(
  kind: ServerKind,
  size: BenchSize,
  redis: BenchRedis,
  profileDir?: string,
): Promise<RampResult> {
  return withServers(kind, 1, redis, async ([server], worker) => {
    const s = server as BenchServer;
    const { warmupConnections, connections, concurrency, settleMs } = size.ramp;
    requireAll(
      "warm-up connect",
      await worker.call<ConnectResult>(connectCommand(kind, [s.url], warmupConnections, concurrency)),
    );
    await worker.call({ cmd: "close" });
    await new Promise((r) => setTimeout(r, 300));
    const before = await s.probe<MemorySnapshot>("memory");
    if (profileDir) {
      mkdirSync(profileDir, { recursive: true });
      await s.probe("profileStart");
    }
    const cpu0 = await cpuOf([s]);
    const connect = await worker.call<ConnectResult>(connectCommand(kind, [s.url], connections, concurrency));
    const cpu1 = await cpuOf([s]);
    if (profileDir) await s.probe("profileStop", { file: `${profileDir}/${kind}-ramp.cpuprofile` });
    await new Promise((r) => setTimeout(r, settleMs));
    const after = await s.probe<MemorySnapshot>("memory");
    if (profileDir) {
      // The connections held idle: heartbeats, sweeps, timers.
      await s.probe("profileStart");
      await new Promise((r) => setTimeout(r, IDLE_PROFILE_MS));
      await s.probe("profileStop", { file: `${profileDir}/${kind}-idle.cpuprofile` });
    }
    const held = Math.max(1, connect.connected);
    return {
      connect,
      before,
      after,
      rssPerConnection: Math.round((after.rss - before.rss) / held),
      heapPerConnection: Math.round((after.heapUsed - before.heapUsed) / held),
      server: cpuDelta(cpu0, cpu1)[0] as ServerCpu,
    };
  });
}

async function measureStep(
  servers: BenchServer[],
  worker: LoadWorker,
  redis: BenchRedis,
  f: BenchSize["fanout"],
  step: number,
  ratePerSec: number,
  durationMs: number,
): Promise<MeasuredStep> {
  const cpu0 = await cpuOf(servers);
  const redis0 = processTicks(redis.child.pid ?? 0);
  const machine0 = machineTicks();
  const wall0 = Date.now();
  const result = await worker.call<StepResult>({
    cmd: "step",
    step,
    ratePerSec: Math.round(ratePerSec),
    durationMs,
    maxInFlight: f.maxInFlight,
    drainTimeoutMs: f.drainTimeoutMs,
    textBytes: f.textBytes,
  });
  const cpu1 = await cpuOf(servers);
  const redisTicks = processTicks(redis.child.pid ?? 0) - redis0;
  const machine1 = machineTicks();
  const wallSec = Math.max(0.001, (Date.now() - wall0) / 1000);
  const reason = saturationReason(result, 1000);
  return {
    ...result,
    servers: cpuDelta(cpu0, cpu1),
    redisCpuPercent: Math.round(redisTicks / wallSec),
    machineBusyPercent: Math.round(
      ((machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total)) * 100,
    ),
    saturated: reason !== "",
    reason,
  };
}

async function runFanout(
  kind: ServerKind,
  size: BenchSize,
  redis: BenchRedis,
  instances: number,
  halfRateOf: () => number | undefined,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<FanoutResult> {
  const f = size.fanout;
  return withServers(kind, instances, redis, async (servers, worker) => {
    const urls = servers.map((s) => s.url);
    const connect = await worker.call<ConnectResult>(connectCommand(kind, urls, f.rooms * f.members, 50));
    requireAll("connect", connect);
    const join = await worker.call<JoinResult>({
      cmd: "join",
      rooms: f.rooms,
      membersPerRoom: f.members,
      concurrency: 50,
    });
    requireAll("join", join);

    let stepNo = 1;
    const warm = await measureStep(servers, worker, redis, f, stepNo++, f.warmupRate, f.warmupMs);
    if (warm.lost > 0 || warm.ackMissing > 0) {
      throw new Error(
        `warm-up lost messages: ${JSON.stringify({ lost: warm.lost, errors: warm.ackErrors })}`,
      );
    }

    const profiles: string[] = [];
    if (options.profileDir) {
      mkdirSync(options.profileDir, { recursive: true });
      await Promise.all(servers.map((s) => s.probe("profileStart")));
    }
    const steps: MeasuredStep[] = [];
    const runStep = async (rate: number) => {
      const step = await measureStep(servers, worker, redis, f, stepNo++, rate, f.stepMs);
      steps.push(step);
      const e2e = summarize(step.e2e);
      log(
        `  ${kind} x${instances} step ${Math.round(rate)}/s: delivered ${step.deliveredPerSec}/s, e2e p99 ${e2e.p99Ms} ms, lost ${step.lost}, cpu % server ${step.servers.map((c) => c.cpuPercent).join("+")} load ${step.loadCpuPercent} redis ${step.redisCpuPercent} machine ${step.machineBusyPercent}${step.saturated ? ` (saturated: ${step.reason})` : ""}`,
      );
      return step;
    };
    let rate = f.firstRate;
    let lastGood: number | undefined;
    let firstSaturated: number | undefined;
    for (let k = 0; k < f.maxSteps; k++) {
      if ((await runStep(rate)).saturated) {
        firstSaturated = rate;
        break;
      }
      lastGood = rate;
      rate *= f.growth;
    }
    // The coarse ramp brackets the saturation point; a few steps in between place it
    // closer than one growth factor.
    if (lastGood !== undefined && firstSaturated !== undefined) {
      for (let i = 1; i <= f.refineSteps; i++) {
        const between = lastGood * (firstSaturated / lastGood) ** (i / (f.refineSteps + 1));
        if ((await runStep(between)).saturated) break;
      }
    }
    if (options.profileDir) {
      for (const [i, s] of servers.entries()) {
        const file = `${options.profileDir}/${kind}-fanout${instances}-${i}.cpuprofile`;
        await s.probe("profileStop", { file });
        profiles.push(file);
      }
    }

    const best = steps.reduce((a, b) => (b.deliveredPerSec > a.deliveredPerSec ? b : a));
    const saturation = {
      deliveredPerSec: best.deliveredPerSec,
      sendsPerSec: Math.round(best.deliveredPerSec / f.members),
      step: best.step,
      reached: firstSaturated !== undefined,
    };
    const halfRate = halfRateOf() ?? saturation.sendsPerSec / 2;
    let half: MeasuredStep | undefined;
    if (halfRate > 0) {
      half = await measureStep(servers, worker, redis, f, stepNo++, halfRate, f.halfLoadMs);
      log(
        `  ${kind} x${instances} at ${Math.round(halfRate)}/s (50 % of the baseline's saturation): e2e p99 ${summarize(half.e2e).p99Ms} ms, lost ${half.lost}`,
      );
    }
    return { instances, connect, join, steps, saturation, half, profiles };
  });
}

async function runNotify(
  kind: ServerKind,
  size: BenchSize,
  redis: BenchRedis,
  profileDir?: string,
): Promise<NotifyScenarioResult> {
  const n = size.notify;
  return withServers(kind, 1, redis, async ([server], worker) => {
    const s = server as BenchServer;
    const connect = await worker.call<ConnectResult>(connectCommand(kind, [s.url], n.users, 50));
    requireAll("connect", connect);
    const command = {
      cmd: "notify" as const,
      url: s.url,
      apiKey: BENCH_API_KEY,
      path: kind === "service" ? "/internal/notifications" : "/notify",
      batchSize: n.batchSize,
      concurrency: n.concurrency,
      drainTimeoutMs: 10_000,
    };
    const warm = await worker.call<NotifyResult>({ ...command, requests: Math.min(10, n.requests) });
    if (warm.httpOk === 0)
      throw new Error(`notification endpoint refused every request: ${JSON.stringify(warm.httpErrors)}`);
    if (profileDir) {
      mkdirSync(profileDir, { recursive: true });
      await s.probe("profileStart");
    }
    const cpu0 = await cpuOf([s]);
    const result = await worker.call<NotifyResult>({ ...command, requests: n.requests });
    const cpu1 = await cpuOf([s]);
    if (profileDir) await s.probe("profileStop", { file: `${profileDir}/${kind}-notify.cpuprofile` });
    return { ...result, connect, server: cpuDelta(cpu0, cpu1)[0] as ServerCpu };
  });
}

/**
 * One fixed step of the fan-out rooms on one service instance, first without the hook, then
 * with every chat:send posted to a local receiver that allows it: the difference in ack and
 * end-to-end latency is the hook's cost (one HTTP round trip on the loopback before the store).
 */
async function runModeration(
  size: BenchSize,
  redis: BenchRedis,
  log: (line: string) => void,
): Promise<ModerationScenarioResult> {
  const f = size.fanout;
  const { ratePerSec, stepMs } = size.moderation;
  const receiver = await new ModerationReceiver().start();
  const oneStep = (env: Record<string, string>, label: string) =>
    withServers(
      "service",
      1,
      redis,
      async (servers, worker) => {
        const urls = servers.map((s) => s.url);
        requireAll(
          "connect",
          await worker.call<ConnectResult>(connectCommand("service", urls, f.rooms * f.members, 50)),
        );
        requireAll(
          "join",
          await worker.call<JoinResult>({
            cmd: "join",
            rooms: f.rooms,
            membersPerRoom: f.members,
            concurrency: 50,
          }),
        );
        await measureStep(servers, worker, redis, f, 1, f.warmupRate, f.warmupMs);
        const step = await measureStep(servers, worker, redis, f, 2, ratePerSec, stepMs);
        const ack = summarize(step.ack);
        const e2e = summarize(step.e2e);
        log(
          `  service ${label} at ${ratePerSec}/s: ack p50 ${ack.p50Ms} p99 ${ack.p99Ms} ms, e2e p50 ${e2e.p50Ms} p99 ${e2e.p99Ms} ms, lost ${step.lost}`,
        );
        return step;
      },
      env,
    );
  try {
    const without = await oneStep({}, "without the hook");
    const withHook = await oneStep(
      { MESSAGE_HOOK_URL: receiver.url, MESSAGE_HOOK_KEY: BENCH_HOOK_KEY },
      "with the moderation hook",
    );
    if (receiver.calls === 0) throw new Error("the moderation receiver was never called");
    return { ratePerSec, without, withHook, hookCalls: receiver.calls };
  } finally {
    await receiver.stop();
  }
}

async function outcome<T>(
  what: string,
  log: (line: string) => void,
  run: () => Promise<T>,
): Promise<Outcome<T>> {
  const started = Date.now();
  try {
    const value = await run();
    log(`${what}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { ok: true, value };
  } catch (err) {
    const error = (err as Error).message;
    log(`${what}: FAILED: ${error.split("\n")[0]}`);
    return { ok: false, error };
  }
}

/** Runs the scenarios against each server, one server at a time, on one private Redis. */
export async function runBench(options: BenchOptions): Promise<BenchRun> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const run: BenchRun = {
    ramp: {},
    fanout: {},
    fanout2: {},
    notify: {},
    scale: {},
    moderation: {},
    redisVersion: "",
    startedAt: new Date(started).toISOString(),
    elapsedMs: 0,
  };
  const redis = await BenchRedis.start();
  run.redisVersion = redis.version;
  const halfRate = (scenario: "fanout" | "fanout2") => () => {
    const base = run[scenario].baseline;
    return base?.ok ? base.value.saturation.sendsPerSec / 2 : undefined;
  };
  try {
    for (const scenario of options.scenarios) {
      for (const kind of options.servers) {
        const what = `${scenario} ${kind}`;
        log(`${what}: running`);
        switch (scenario) {
          case "ramp":
            run.ramp[kind] = await outcome(what, log, () =>
              runRamp(kind, options.size, redis, options.profileDir),
            );
            break;
          case "fanout":
            run.fanout[kind] = await outcome(what, log, () =>
              runFanout(kind, options.size, redis, 1, halfRate("fanout"), options, log),
            );
            break;
          case "fanout2":
            run.fanout2[kind] = await outcome(what, log, () =>
              runFanout(kind, options.size, redis, 2, halfRate("fanout2"), options, log),
            );
            break;
          case "notify":
            run.notify[kind] = await outcome(what, log, () =>
              runNotify(kind, options.size, redis, options.profileDir),
            );
            break;
          case "scale":
            run.scale[kind] = await outcome(what, log, () =>
              runScale(kind, options.size, redis, log, options.profileDir),
            );
            break;
          case "moderation":
            if (kind === "baseline") {
              log(`${what}: skipped (the baseline has no moderation hook)`);
              break;
            }
            run.moderation[kind] = await outcome(what, log, () => runModeration(options.size, redis, log));
            break;
        }
      }
    }
  } finally {
    await redis.stop();
    killAllChildren();
  }
  run.elapsedMs = Date.now() - started;
  return run;
}
