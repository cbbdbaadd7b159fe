// What the Socket.IO Admin UI instrumentation (ADMIN_UI_ENABLED) costs one instance:
// memory per idle connection and server CPU per delivered chat message, with and without it,
// in alternating runs on one private Redis.   npx tsx bench/admin-ui-cost.ts [--runs 2]
import { parseArgs } from "node:util";
import { benchRoom } from "./load-generator.js";
import type { ConnectResult, JoinResult, StepResult } from "./load-protocol.js";
import {
  BENCH_JWT_SECRET,
  BenchRedis,
  BenchServer,
  type CpuSnapshot,
  installExitHook,
  LoadWorker,
  type MemorySnapshot,
} from "./processes.js";

const CONNECTIONS = 2000;
const ROOMS = 50;
const MEMBERS = 10;
const RATE = 400; // chat:send per second: 4,000 deliveries/s, far below saturation
const STEP_MS = 5000;
const ADMIN_ENV = { ADMIN_UI_ENABLED: "true", ADMIN_UI_PASSWORD: "bench-admin-password-0123456789" };

interface Sample {
  admin: boolean;
  heapPerConnection: number;
  rssPerConnection: number;
  cpuUsPerDelivery: number;
  delivered: number;
  lost: number;
}

const connect = (url: string, count: number) => ({
  cmd: "connect" as const,
  urls: [url],
  count,
  userPrefix: "cost-u",
  sendUserId: false,
  secret: BENCH_JWT_SECRET,
  concurrency: 50,
  timeoutMs: 20_000,
});

async function measure(redis: BenchRedis, admin: boolean): Promise<Sample> {
  await redis.flush();
  const server = await BenchServer.start("service", { redisUrl: redis.url, env: admin ? ADMIN_ENV : {} });
  const worker = LoadWorker.start();
  try {
    await worker.call<ConnectResult>(connect(server.url, 20));
    await worker.call({ cmd: "close" });
    await new Promise((r) => setTimeout(r, 300));
    const before = await server.probe<MemorySnapshot>("memory");
    const ramp = await worker.call<ConnectResult>(connect(server.url, CONNECTIONS));
    if (ramp.failed > 0) throw new Error(`connect: ${ramp.errors.join("; ")}`);
    await new Promise((r) => setTimeout(r, 500));
    const after = await server.probe<MemorySnapshot>("memory");

    const join = await worker.call<JoinResult>({
      cmd: "join",
      rooms: ROOMS,
      membersPerRoom: MEMBERS,
      concurrency: 50,
    });
    if (join.failed > 0) throw new Error(`join: ${join.errors.join("; ")}`);
    const cpu0 = await server.probe<CpuSnapshot>("cpu");
    const step = await worker.call<StepResult>({
      cmd: "step",
      step: 1,
      ratePerSec: RATE,
      durationMs: STEP_MS,
      maxInFlight: 500,
      drainTimeoutMs: 5000,
      textBytes: 64,
    });
    const cpu1 = await server.probe<CpuSnapshot>("cpu");
    const cpuUs = cpu1.userUs - cpu0.userUs + (cpu1.systemUs - cpu0.systemUs);
    return {
      admin,
      heapPerConnection: Math.round((after.heapUsed - before.heapUsed) / ramp.connected),
      rssPerConnection: Math.round((after.rss - before.rss) / ramp.connected),
      cpuUsPerDelivery: Math.round((cpuUs / Math.max(1, step.delivered)) * 100) / 100,
      delivered: step.delivered,
      lost: step.lost,
    };
  } finally {
    await worker.stop();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "2" } } });
  installExitHook();
  const redis = await BenchRedis.start();
  const samples: Sample[] = [];
  try {
    for (let run = 0; run < Number(values.runs); run++) {
      // Alternate which goes first, so a machine getting busier does not favour one side.
      for (const admin of run % 2 === 0 ? [false, true] : [true, false]) {
        const sample = await measure(redis, admin);
        samples.push(sample);
        process.stdout.write(`${JSON.stringify(sample)}\n`);
      }
    }
  } finally {
    await redis.stop();
  }
  const mean = (admin: boolean, key: "heapPerConnection" | "rssPerConnection" | "cpuUsPerDelivery") => {
    const of = samples.filter((s) => s.admin === admin).map((s) => s[key]);
    return Math.round((of.reduce((a, b) => a + b, 0) / of.length) * 100) / 100;
  };
  for (const key of ["heapPerConnection", "rssPerConnection", "cpuUsPerDelivery"] as const) {
    process.stdout.write(`${key}: off ${mean(false, key)}, on ${mean(true, key)}\n`);
  }
  process.stdout.write(`rooms ${benchRoom(0)}..${benchRoom(ROOMS - 1)}, ${RATE} sends/s for ${STEP_MS} ms\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
