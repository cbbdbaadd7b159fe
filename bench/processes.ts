import { type ChildProcess, fork, spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { freePort, type RedisServer, startRedis } from "../test/helpers/redis-server.js";
import type { WorkerCommand, WorkerReply, WorkerRequest } from "./load-protocol.js";

export const ROOT = fileURLToPath(new URL("../", import.meta.url));
export const BENCH_DIR = `${ROOT}bench/`;
const PROBE = new URL("./probe.mjs", import.meta.url).href;

export type ServerKind = "service" | "baseline";

/** Fixed bench credentials: everything runs on 127.0.0.1 in throwaway processes. */
export const BENCH_JWT_SECRET = "bench-secret-0123456789-0123456789-abcdef";
export const BENCH_API_KEY = "bench-internal-api-key-0123456789";

/**
 * The service's environment for a bench run. The per-user rate limits are raised far
 * above the offered load so the bench measures throughput, not the limiter; every
 * limiter still runs on every event, in Redis (chat:send's inside the store script).
 */
export const SERVICE_BENCH_ENV: Record<string, string> = {
  NODE_ENV: "test",
  LOG_LEVEL: "warn",
  JWT_SECRET: BENCH_JWT_SECRET,
  CORS_ORIGINS: "http://bench.invalid",
  REDIS_KEY_PREFIX: "rtbench:",
  INTERNAL_API_KEY: BENCH_API_KEY,
  SHUTDOWN_GRACE_MS: "500",
  RATE_CHAT_SEND_PER_SEC: "100000",
  RATE_CHAT_SEND_BURST: "100000",
  RATE_CHAT_JOIN_PER_SEC: "100000",
  RATE_INTERNAL_API_PER_SEC: "1000000",
  // Every bench socket comes from 127.0.0.1: the per-address flood guard would refuse the ramp.
  RATE_CONNECT_PER_IP_PER_MIN: "1000000",
};

/** Every child this process started, so that nothing outlives the run, even on a crash. */
const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  children.clear();
}

let exitHookInstalled = false;
/** For the CLI: kill every child on exit and on Ctrl-C. Tests clean up in afterAll instead. */
export function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", killAllChildren);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  if (!(await waitForExit(child, graceMs))) {
    child.kill("SIGKILL");
    await waitForExit(child, graceMs);
  }
}

/** Any HTTP answer at all means the server is listening. */
function httpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/health", timeout: 500 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/**
 * Requests to a child over its IPC channel: each gets an id and its own timeout, the
 * child's replies settle them by id, and the child's exit rejects whatever is left.
 */
class IpcRequests {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly child: ChildProcess,
    exitError: (code: number | null, signal: NodeJS.Signals | null) => string,
  ) {
    child.once("exit", (code, signal) => {
      const error = new Error(exitError(code, signal));
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    });
  }

  settle(id: number, reply: { ok: true; result?: unknown } | { ok: false; error?: string }): void {
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    if (reply.ok) waiter.resolve(reply.result);
    else waiter.reject(new Error(reply.error));
  }

  send<T>(message: (id: number) => object, timeoutError: string, timeoutMs: number): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(timeoutError));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send(message(id));
    });
  }
}

/** A benchmarked server: the built service (`dist/main.js`) or the baseline, with the probe preloaded. */
export class BenchServer {
  readonly output: string[] = [];
  private readonly probes: IpcRequests;

  private constructor(
    readonly kind: ServerKind,
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    this.probes = new IpcRequests(child, () => `${kind} server exited`);
    child.on("message", (message: { probeReply?: number; ok: boolean; result?: unknown; error?: string }) => {
      if (message?.probeReply === undefined) return;
      this.probes.settle(
        message.probeReply,
        message.ok ? { ok: true, result: message.result } : { ok: false, error: message.error },
      );
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  static async start(
    kind: ServerKind,
    options: { redisUrl?: string; env?: Record<string, string>; instance?: number } = {},
  ): Promise<BenchServer> {
    const entry = kind === "service" ? `${ROOT}dist/main.js` : `${BENCH_DIR}baseline-server.mjs`;
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
    const port = await freePort();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOST: "127.0.0.1",
      PORT: String(port),
      ...(kind === "service"
        ? { ...SERVICE_BENCH_ENV, INSTANCE_ID: `bench-${options.instance ?? 0}` }
        : { INTERNAL_API_KEY: BENCH_API_KEY }),
      ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
      ...options.env,
    };
    const execArgv = ["--expose-gc", "--import", PROBE];
    const child = track(
      spawn(process.execPath, [...execArgv, entry], {
        cwd: ROOT,
        env,
        stdio: ["ignore", "pipe", "pipe", "ipc"],
      }),
    );
    const server = new BenchServer(kind, child, port);
    // BENCH_SERVER_LOGS=<dir>: every line each server writes, one file per server (diagnostics).
    const logDir = process.env.BENCH_SERVER_LOGS;
    if (logDir) mkdirSync(logDir, { recursive: true });
    const logFile = logDir ? `${logDir}/${kind}-${options.instance ?? 0}-${port}.log` : undefined;
    const keep = (chunk: Buffer) => {
      if (logFile) appendFileSync(logFile, chunk);
      server.output.push(chunk.toString("utf8"));
      if (server.output.length > 200) server.output.splice(0, 100);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) break;
      if (await httpAnswers(port)) return server;
      await new Promise((r) => setTimeout(r, 50));
    }
    await stopChild(child, 1000);
    throw new Error(`${kind} server did not start:\n${server.output.join("").slice(-3000)}`);
  }

  probe<T>(name: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    return this.probes.send<T>((id) => ({ probe: name, id, args }), `probe ${name} timed out`, timeoutMs);
  }

  /** RSS as the kernel sees it, read from outside the process. */
  rssFromProc(): number {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${this.pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : Number.NaN;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    await stopChild(this.child);
  }
}

export interface MemorySnapshot {
  gcForced: boolean;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface CpuSnapshot {
  userUs: number;
  systemUs: number;
  eluIdle: number;
  eluActive: number;
  at: number;
}

/** CPU use of a process between two snapshots, in % of one core, and its event-loop utilization. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): { cpuPercent: number; elu: number } {
  const wallUs = Math.max(1, (b.at - a.at) * 1000);
  const cpuUs = b.userUs - a.userUs + (b.systemUs - a.systemUs);
  const active = b.eluActive - a.eluActive;
  const idle = b.eluIdle - a.eluIdle;
  return {
    cpuPercent: Math.round((cpuUs / wallUs) * 1000) / 10,
    elu: active + idle > 0 ? Math.round((active / (active + idle)) * 1000) / 1000 : Number.NaN,
  };
}

/** utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux). */
export function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may contain spaces; fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN;
  }
}

/** Busy and total ticks of the whole machine, from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

/** The load generator: a separate process so its CPU is not the servers'. */
export class LoadWorker {
  private readonly requests: IpcRequests;

  private constructor(readonly child: ChildProcess) {
    this.requests = new IpcRequests(child, (code, signal) => `load worker exited (${code ?? signal})`);
    child.on("message", (reply: WorkerReply) => this.requests.settle(reply.id, reply));
  }

  static start(): LoadWorker {
    const child = track(
      fork(`${BENCH_DIR}load-worker.ts`, [], {
        cwd: ROOT,
        execArgv: [
          "--import",
          "tsx",
          ...(process.env.BENCH_WORKER_PROF
            ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_WORKER_PROF}`]
            : []),
        ],
        env: { PATH: process.env.PATH ?? "", NODE_ENV: "production" },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      }),
    );
    return new LoadWorker(child);
  }

  /** Run one command; every command is bounded by its own timeouts, this is the last resort. */
  call<T>(command: WorkerCommand, timeoutMs = 300_000): Promise<T> {
    return this.requests.send<T>(
      (id) => ({ ...command, id }) satisfies WorkerRequest,
      `load worker: ${command.cmd} timed out`,
      timeoutMs,
    );
  }

  async stop(): Promise<void> {
    if (this.child.connected) {
      try {
        await this.call({ cmd: "close" }, 10_000);
      } catch {
        // killed below anyway
      }
    }
    await stopChild(this.child, 5000);
  }
}

/** A private, non-persistent redis-server on a free port (the tests' own), killed with the run. */
export class BenchRedis {
  private constructor(
    private readonly server: RedisServer,
    readonly child: ChildProcess,
    readonly version: string,
  ) {}

  get url(): string {
    return this.server.url;
  }

  static async start(): Promise<BenchRedis> {
    const server = await startRedis().catch((err: unknown) => {
      throw new Error(`redis-server did not start (is it installed?): ${(err as Error).message}`);
    });
    const child = server.process;
    if (!child) throw new Error("redis-server exited right after starting");
    track(child);
    const client = server.client();
    try {
      const info = await client.info("server");
      return new BenchRedis(server, child, /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown");
    } finally {
      client.disconnect();
    }
  }

  /** Drop every key and the adapter's state between two servers' runs. */
  async flush(): Promise<void> {
    const client = this.server.client();
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    await this.server.destroy();
  }
}
