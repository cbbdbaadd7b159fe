import { mkdirSync, readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { signToken } from "../src/auth/sign.js";
import { readyStatus } from "../test/helpers/ready.js";
import type { ServerCpu } from "./harness.js";
import { Histogram, type LatencySummary } from "./histogram.js";
import type { ScaleConnectResult, ScaleStatus } from "./load-protocol.js";
import {
  BENCH_JWT_SECRET,
  type BenchRedis,
  BenchServer,
  type CpuSnapshot,
  cpuBetween,
  LoadWorker,
  type MemorySnapshot,
  processTicks,
  SERVICE_BENCH_ENV,
  type ServerKind,
} from "./processes.js";
import type { BenchSize } from "./sizes.js";
import { WireClient } from "./wire-client.js";

const USER_PREFIX = "bench-s";

/** The kernel's counts of connections dropped at full accept queues (TcpExt, /proc/net/netstat). */
function listenDrops(): { overflows: number; drops: number } {
  try {
    const lines = readFileSync("/proc/net/netstat", "utf8").split("\n");
    const names = (lines[0] ?? "").split(" ");
    const values = (lines[1] ?? "").split(" ");
    const get = (name: string) => Number(values[names.indexOf(name)] ?? 0);
    return { overflows: get("ListenOverflows"), drops: get("ListenDrops") };
  } catch {
    return { overflows: 0, drops: 0 };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ScaleResult {
  instances: number;
  workers: number;
  addresses: number;
  requested: number;
  connected: number;
  /** Every worker's ramp, started together: connections over the longest one. */
  connectsPerSec: number;
  rampMs: number;
  rampRefusals: Record<string, number>;
  connectLatency: LatencySummary;
  /** Whole processes, after GC: (after − before) summed over the instances, per connection. */
  rssPerConnection: number;
  heapPerConnection: number;
  redisBytesPerConnection: number;
  /** Redis commands executed during the ramp (INFO stats), per connection: the handshake's cost in Redis. */
  redisCommandsPerConnection: number;
  /** Redis's CPU during the ramp, per connection (µs). */
  redisCpuUsPerConnection: number;
  idle: {
    windowMs: number;
    /** % of one core, per instance. */
    instanceCpu: number[];
    redisCpuPercent: number;
    redisCommandsPerSec: number;
  };
  /** With --profile: each survivor's CPU profile over the storm. */
  profiles: string[];
  kill: {
    /** Sockets the killed instance held. */
    clients: number;
    back: number;
    backAfter: LatencySummary;
    /** backAfter less the time each client chose to wait itself (its own backoff draws; a server's hint counts). */
    beyondBackoff: LatencySummary;
    /** % of one core of each surviving server and each load generator, from the kill until all were back. */
    cpu: { windowMs: number; survivors: number[]; generators: number[] };
    /** Clients not back at the deadline: waiting for their next attempt, in one, or open (never expected). */
    notBack: { waiting: number; connecting: number; open: number };
    /** Failed attempts while coming back, by refusal code or transport error. */
    refusals: Record<string, number>;
    attempts: number;
    /** Clients of the surviving instances that lost their session meanwhile (must be 0). */
    othersLost: number;
    /** Service only: presence checked in Redis once the dead instance was reaped. */
    presence?: PresenceCheck;
  };
}

export interface PresenceCheck {
  /** From the kill until every user had exactly one device and was online (or the timeout). */
  correctAfterMs: number | null;
  /** Users with a device count other than one, or offline, at the end. */
  wrong: number;
  /** Users of the surviving instances seen going offline by a subscriber (must be 0). */
  othersFlapped: number;
  /** Users of the killed instance seen going offline (they came back inside the grace: 0 expected). */
  killedFlapped: number;
  watched: number;
}

/** Source ports 10,000–60,999, split between the workers that share source addresses. */
function portRange(worker: number, sharing: number): [number, number] {
  const width = Math.floor(51_000 / sharing);
  const first = 10_000 + (sharing > 1 ? worker * width : 0);
  return [first, first + width];
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

async function redisInfo(client: Redis, section: string, field: string): Promise<number> {
  const info = await client.info(section);
  return Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1] ?? Number.NaN);
}

/**
 * Watches presence the way a client does: subscribed sockets on a surviving instance
 * record every `presence:changed` to offline.
 */
async function watchPresence(url: string, userIds: string[]) {
  const offline = new Set<string>();
  const sockets: WireClient[] = [];
  // 2000 subscriptions per socket at most, 500 ids per call.
  for (let i = 0; i < userIds.length; i += 2000) {
    const token = await signToken({ sub: `bench-watcher-${i}` }, { key: BENCH_JWT_SECRET, expiresIn: "1h" });
    const socket = await WireClient.connect(url, { auth: { token } });
    socket.on("presence:changed", (...args: unknown[]) => {
      const state = args[0] as { userId: string; status: string };
      if (state.status === "offline") offline.add(state.userId);
    });
    const ids = userIds.slice(i, i + 2000);
    for (let j = 0; j < ids.length; j += 500) {
      const res = (await socket.emitWithAck("presence:subscribe", { userIds: ids.slice(j, j + 500) })) as {
        ok?: boolean;
      };
      if (!res?.ok) throw new Error(`presence:subscribe refused: ${JSON.stringify(res)}`);
    }
    sockets.push(socket);
  }
  return {
    offline,
    close: () => {
      for (const s of sockets) s.close();
    },
  };
}

/** Users whose presence is wrong, by how: no device, more than one, or not online. */
interface PresenceWrong {
  wrong: number;
  noDevice: number;
  severalDevices: number;
  offline: number;
}

/** Every user has one device and is online: the dead registration was reaped, nobody lost. */
async function presenceWrong(client: Redis, users: number): Promise<PresenceWrong> {
  const prefix = SERVICE_BENCH_ENV.REDIS_KEY_PREFIX as string;
  const count: PresenceWrong = { wrong: 0, noDevice: 0, severalDevices: 0, offline: 0 };
  for (let from = 0; from < users; from += 5000) {
    const pipeline = client.pipeline();
    const to = Math.min(users, from + 5000);
    for (let u = from; u < to; u++) {
      pipeline.hlen(`${prefix}presence:{${USER_PREFIX}${u}}:conns`);
      pipeline.hget(`${prefix}presence:{${USER_PREFIX}${u}}:state`, "online");
    }
    const replies = (await pipeline.exec()) ?? [];
    for (let i = 0; i < replies.length; i += 2) {
      const devices = replies[i]?.[1];
      const online = replies[i + 1]?.[1];
      if (devices !== 1 || online !== "1") count.wrong++;
      if (devices === 0) count.noDevice++;
      if (typeof devices === "number" && devices > 1) count.severalDevices++;
      if (online !== "1") count.offline++;
    }
  }
  return count;
}

/**
 * The scale scenario: M instances over one Redis, N idle authenticated connections from
 * several load-generator processes and source addresses; the idle cost; then one instance
 * SIGKILLed and its clients back on the others with the SDK's backoff.
 */
export async function runScale(
  kind: ServerKind,
  size: BenchSize,
  redis: BenchRedis,
  log: (line: string) => void,
  profileDir?: string,
): Promise<ScaleResult> {
  const s = size.scale;
  await redis.flush();
  const admin = new Redis(redis.url, { lazyConnect: false });
  const servers: BenchServer[] = [];
  const workers: LoadWorker[] = [];
  let watcher: Awaited<ReturnType<typeof watchPresence>> | undefined;
  try {
    const env = { PRESENCE_TTL_MS: String(s.presenceTtlMs) };
    for (let i = 0; i < s.instances; i++) {
      servers.push(await BenchServer.start(kind, { redisUrl: redis.url, instance: i, env }));
    }
    for (let w = 0; w < s.workers; w++) workers.push(LoadWorker.start());
    const urls = servers.map((srv) => srv.url);
    await sleep(500);
    const before = await Promise.all(servers.map((srv) => srv.probe<MemorySnapshot>("memory")));
    const redisBefore = await redisInfo(admin, "memory", "used_memory");
    const rampCommands0 = await redisInfo(admin, "stats", "total_commands_processed");
    const rampRedisTicks0 = processTicks(redis.child.pid ?? 0);

    // Each worker takes a contiguous share of the users and its own source addresses.
    const perWorker = Math.ceil(s.connections / s.workers);
    const addresses = Array.from({ length: s.addresses }, (_, a) => `127.0.1.${a + 1}`);
    const rampStarted = Date.now();
    const ramps = await Promise.all(
      workers.map((worker, w) => {
        const firstUser = w * perWorker;
        const count = Math.max(0, Math.min(perWorker, s.connections - firstUser));
        return worker.call<ScaleConnectResult>(
          {
            cmd: "scaleConnect",
            urls,
            firstUser,
            count,
            userPrefix: USER_PREFIX,
            sendUserId: kind === "baseline",
            secret: BENCH_JWT_SECRET,
            localAddresses: addresses.filter((_, a) => a % s.workers === w || s.addresses < s.workers),
            ports: portRange(w, s.addresses < s.workers ? s.workers : 1),
            concurrency: s.concurrency,
            timeoutMs: 30_000,
          },
          900_000,
        );
      }),
    );
    const rampCommands = (await redisInfo(admin, "stats", "total_commands_processed")) - rampCommands0;
    // Clock ticks are 10 ms: over a ramp of thousands of connections, precise enough.
    const rampRedisUs = (processTicks(redis.child.pid ?? 0) - rampRedisTicks0) * 10_000;
    const connected = ramps.reduce((n, r) => n + r.connected, 0);
    const rampMs = Math.max(...ramps.map((r) => r.elapsedMs));
    const rampRefusals: Record<string, number> = {};
    const latency = new Histogram();
    for (const r of ramps) {
      addCounts(rampRefusals, r.refusals);
      latency.merge(Histogram.fromJSON(r.latency));
    }
    log(
      `  ${kind} scale: ${connected}/${s.connections} connected over ${s.instances} instances in ${((Date.now() - rampStarted) / 1000).toFixed(1)} s (refusals ${JSON.stringify(rampRefusals)})`,
    );
    if (connected < s.connections) {
      throw new Error(
        `only ${connected} of ${s.connections} connected: ${ramps.flatMap((r) => r.errors)[0]}`,
      );
    }

    await sleep(2000);
    const after = await Promise.all(servers.map((srv) => srv.probe<MemorySnapshot>("memory")));
    const redisAfter = await redisInfo(admin, "memory", "used_memory");
    const sum = (xs: MemorySnapshot[], f: (m: MemorySnapshot) => number) => xs.reduce((n, m) => n + f(m), 0);

    // Idle: heartbeats, leases, pings; nothing else happens.
    const cpu0 = await Promise.all(servers.map((srv) => srv.probe<CpuSnapshot>("cpu")));
    const redisTicks0 = processTicks(redis.child.pid ?? 0);
    const commands0 = await redisInfo(admin, "stats", "total_commands_processed");
    const idleStarted = Date.now();
    await sleep(s.idleMs);
    const cpu1 = await Promise.all(servers.map((srv) => srv.probe<CpuSnapshot>("cpu")));
    const commands1 = await redisInfo(admin, "stats", "total_commands_processed");
    const idleSec = (Date.now() - idleStarted) / 1000;
    const redisTicks = processTicks(redis.child.pid ?? 0) - redisTicks0;
    const idle = {
      windowMs: Math.round(idleSec * 1000),
      instanceCpu: cpu0.map((c, i) => (cpuBetween(c, cpu1[i] as CpuSnapshot) as ServerCpu).cpuPercent),
      redisCpuPercent: Math.round((redisTicks / idleSec) * 10) / 10,
      // Minus the two INFO calls of the measurement itself.
      redisCommandsPerSec: Math.round(((commands1 - commands0 - 1) / idleSec) * 10) / 10,
    };
    log(
      `  ${kind} scale idle: cpu % ${idle.instanceCpu.join(", ")}, redis ${idle.redisCpuPercent} %, ${idle.redisCommandsPerSec} commands/s`,
    );

    // Watch a sample of users on the survivors and on the victim, from the first instance.
    const victim = servers.length - 1;
    if (kind === "service") {
      const sample: string[] = [];
      for (
        let u = 0;
        u < s.connections && sample.length < 2000;
        u += Math.max(1, Math.floor(s.connections / 2000))
      )
        sample.push(`${USER_PREFIX}${u}`);
      watcher = await watchPresence(urls[0] as string, sample);
    }

    // Who was busy while the clients came back: the surviving servers or the load generators.
    const survivorServers = servers.filter((_, i) => i !== victim);
    const pids = {
      survivors: survivorServers.map((srv) => srv.child.pid ?? 0),
      generators: workers.map((w) => w.child.pid ?? 0),
    };
    const ticksNow = () => ({
      survivors: pids.survivors.map(processTicks),
      generators: pids.generators.map(processTicks),
    });
    // Everything read "since the kill" starts here, before it: nothing stands between the
    // kill and telling the load balancer. With --profile: what the survivors spend the storm on.
    const profiles = profileDir
      ? survivorServers.map((_, i) => `${profileDir}/${kind}-storm-survivor${i}.cpuprofile`)
      : [];
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    await Promise.all(profiles.map((_, i) => survivorServers[i]?.probe("profileStart")));
    await Promise.all(survivorServers.map((srv) => srv.probe("loopDelay")));
    await admin.slowlog("RESET");
    const dropsAtKill = listenDrops();
    const ticksAtKill = ticksNow();
    const killedAt = Date.now();
    (servers[victim] as BenchServer).child.kill("SIGKILL");
    const survivors = urls.filter((_, i) => i !== victim);
    const killed = (
      await Promise.all(
        workers.map((w) =>
          w.call<{ killed: number }>({
            cmd: "failover",
            killedUrl: urls[victim] as string,
            survivors,
            killedAt,
          }),
        ),
      )
    ).reduce((n, r) => n + r.killed, 0);
    log(`  ${kind} scale: SIGKILLed instance ${victim} holding ${killed} clients`);
    // As an orchestrator would, a replacement instance starts at once. Without it the
    // survivors would need 16,667 + 3,333 sockets each at the full size: the open-file limit.
    let live = survivors;
    const replacing = BenchServer.start(kind, { redisUrl: redis.url, instance: s.instances, env }).then(
      (replacement) => {
        servers.push(replacement);
        live = [...survivors, replacement.url];
        log(
          `  ${kind} scale: a replacement instance (${replacement.url}) answers ${Date.now() - killedAt} ms after the kill`,
        );
        return replacement;
      },
    );
    // The load balancer routes to the live instances whose /ready answers 200 (a full or
    // saturated one is left out until it is ready again; the baseline has no /ready: 404).
    let routed = survivors.join();
    const route = async () => {
      const ready = (
        await Promise.all(live.map(async (url) => ((await readyStatus(url)) === 503 ? [] : [url])))
      ).flat();
      const urls = ready.length > 0 ? ready : live;
      if (urls.join() === routed) return;
      routed = urls.join();
      await Promise.all(workers.map((w) => w.call({ cmd: "route", urls })));
    };

    let statuses: ScaleStatus[] = [];
    const deadline = killedAt + s.backTimeoutMs;
    // The CPU window ends when the last client came back (not at the deadline, if some never do).
    let lastBack = { at: killedAt, count: 0, ticks: ticksAtKill };
    // A line a second of the storm's first minute: clients back, failed attempts by code,
    // each server's % of a core over that second (survivors, then the replacement), Redis's,
    // and each server's longest event-loop delay.
    const timeline: string[] = [];
    let slice = {
      at: killedAt,
      pids: [...pids.survivors],
      ticks: ticksAtKill.survivors,
      redisTicks: processTicks(redis.child.pid ?? 0),
    };
    for (;;) {
      statuses = await Promise.all(workers.map((w) => w.call<ScaleStatus>({ cmd: "scaleStatus" })));
      const back = statuses.reduce((n, st) => n + st.back, 0);
      if (back > lastBack.count) lastBack = { at: Date.now(), count: back, ticks: ticksNow() };
      if (Date.now() - slice.at >= 1000 && timeline.length < 60) {
        const now = Date.now();
        // The survivors, then the replacement once it answers.
        const live = servers.filter((_, i) => i !== victim);
        const serverPids = live.map((srv) => srv.child.pid ?? 0);
        const ticks = serverPids.map(processTicks);
        const cpu = ticks.map((t, i) =>
          Math.round(
            ((t - (slice.pids[i] === serverPids[i] ? (slice.ticks[i] ?? 0) : 0)) * 1000) / (now - slice.at),
          ),
        );
        const failed: Record<string, number> = {};
        for (const st of statuses) addCounts(failed, st.refusals);
        const delays = await Promise.all(
          live.map((srv) =>
            srv.probe<{ maxMs: number }>("loopDelay", {}, 2000).then(
              (d) => String(Math.round(d.maxMs)),
              () => ">2000",
            ),
          ),
        );
        const redisTicks = processTicks(redis.child.pid ?? 0);
        const redisCpu = Math.round(((redisTicks - slice.redisTicks) * 1000) / (now - slice.at));
        timeline.push(
          `t=${((now - killedAt) / 1000).toFixed(1)}s back ${back} failed ${JSON.stringify(failed)} cpu ${cpu.join(",")} redis ${redisCpu} loop-max-ms ${delays.join(",")}`,
        );
        slice = { at: now, pids: serverPids, ticks, redisTicks };
      }
      if (back >= killed || Date.now() > deadline) break;
      await route();
      await sleep(250);
    }
    await replacing;
    await Promise.all(profiles.map((file, i) => survivorServers[i]?.probe("profileStop", { file })));
    const stormMs = Math.max(1, lastBack.at - killedAt);
    const percentOfCore = (before: number[], after: number[]) =>
      after.map((t, i) => Math.round(((t - (before[i] ?? 0)) * 1000) / stormMs));
    const stormCpu = {
      windowMs: stormMs,
      survivors: percentOfCore(ticksAtKill.survivors, lastBack.ticks.survivors),
      generators: percentOfCore(ticksAtKill.generators, lastBack.ticks.generators),
    };
    const notBack = { waiting: 0, connecting: 0, open: 0 };
    for (const st of statuses)
      for (const k of ["waiting", "connecting", "open"] as const) notBack[k] += st.notBack[k];
    const back = statuses.reduce((n, st) => n + st.back, 0);
    const refusals: Record<string, number> = {};
    const byTarget: Record<string, number> = {};
    const backAfter = new Histogram();
    const beyondBackoff = new Histogram();
    for (const st of statuses) {
      addCounts(refusals, st.refusals);
      addCounts(byTarget, st.refusalsByTarget);
      backAfter.merge(Histogram.fromJSON(st.backAfter));
      beyondBackoff.merge(Histogram.fromJSON(st.beyondBackoff));
    }
    const backSummary = backAfter.summary();
    const beyondSummary = beyondBackoff.summary();
    log(
      `  ${kind} scale: ${back}/${killed} back, p50 ${backSummary.p50Ms} ms p99 ${backSummary.p99Ms} ms max ${backSummary.maxMs} ms; beyond their own backoff p50 ${beyondSummary.p50Ms} p99 ${beyondSummary.p99Ms} ms (refusals ${JSON.stringify(refusals)})`,
    );
    log(`  ${kind} scale: failed attempts by code and instance (port): ${JSON.stringify(byTarget)}`);
    for (const line of timeline) log(`  ${kind} scale storm: ${line}`);
    const dropsNow = listenDrops();
    // Commands that held Redis over 10 ms during the storm (its slowlog's default threshold).
    const slow = (await admin.slowlog("GET", 10)) as [number, number, number, string[]][];
    log(
      `  ${kind} scale: Redis slowlog since the kill: ${slow.map(([, , us, args]) => `${args.slice(0, 2).join(" ")} ${Math.round(us / 1000)} ms`).join("; ") || "none"}`,
    );
    log(
      `  ${kind} scale: the kernel dropped at full accept queues since the kill: ListenOverflows ${dropsNow.overflows - dropsAtKill.overflows}, ListenDrops ${dropsNow.drops - dropsAtKill.drops}`,
    );
    log(
      `  ${kind} scale: % of a core from the kill to the last one back (${stormMs} ms): ${JSON.stringify(stormCpu)}`,
    );
    if (back < killed) {
      log(`  ${kind} scale: not back: ${JSON.stringify(notBack)}`);
      for (const line of statuses.flatMap((st) => st.stuck).slice(0, 10)) log(`    ${line}`);
    }

    let presence: PresenceCheck | undefined;
    if (kind === "service") {
      let correctAfterMs: number | null = null;
      let wrong = Number.NaN;
      let how: PresenceWrong | undefined;
      const presenceDeadline = Date.now() + s.backTimeoutMs;
      while (Date.now() < presenceDeadline) {
        how = await presenceWrong(admin, s.connections);
        wrong = how.wrong;
        if (wrong === 0) {
          correctAfterMs = Date.now() - killedAt;
          break;
        }
        await sleep(500);
      }
      // Past the grace, so that a flap would have shown.
      await sleep(1000);
      const victimUsers = new Set<string>();
      for (let u = 0; u < s.connections; u++)
        if (u % s.instances === victim) victimUsers.add(`${USER_PREFIX}${u}`);
      const offline = [...(watcher?.offline ?? [])];
      presence = {
        correctAfterMs,
        wrong,
        othersFlapped: offline.filter((id) => !victimUsers.has(id)).length,
        killedFlapped: offline.filter((id) => victimUsers.has(id)).length,
        watched: Math.min(2000, s.connections),
      };
      log(
        `  ${kind} scale presence: ${JSON.stringify(presence)}${wrong ? ` (wrong: ${JSON.stringify(how)})` : ""}`,
      );
    }

    const othersLost = statuses.reduce((n, st) => n + st.othersLost, 0);
    return {
      instances: s.instances,
      workers: s.workers,
      addresses: s.addresses,
      requested: s.connections,
      connected,
      connectsPerSec: Math.round((connected / Math.max(1, rampMs)) * 1000),
      rampMs,
      rampRefusals,
      connectLatency: latency.summary(),
      rssPerConnection: Math.round((sum(after, (m) => m.rss) - sum(before, (m) => m.rss)) / connected),
      heapPerConnection: Math.round(
        (sum(after, (m) => m.heapUsed) - sum(before, (m) => m.heapUsed)) / connected,
      ),
      redisBytesPerConnection: Math.round((redisAfter - redisBefore) / connected),
      redisCommandsPerConnection: Math.round((rampCommands / connected) * 100) / 100,
      redisCpuUsPerConnection: Math.round(rampRedisUs / connected),
      idle,
      profiles,
      kill: {
        clients: killed,
        back,
        backAfter: backSummary,
        beyondBackoff: beyondSummary,
        refusals,
        cpu: stormCpu,
        notBack,
        attempts: statuses.reduce((n, st) => n + st.attempts, 0),
        othersLost,
        ...(presence ? { presence } : {}),
      },
    };
  } finally {
    watcher?.close();
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(servers.map((srv) => srv.stop()));
    admin.disconnect();
  }
}
