// Preloaded into every benchmarked server (`node --expose-gc --import bench/probe.mjs ...`),
// service and baseline alike, so both are measured the same way without adding anything
// to the product's HTTP surface: the orchestrator talks to it over the IPC channel the
// child was spawned with. Plain JavaScript so no loader sits in the measured process.
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";

const vmRssBytes = () => {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return match ? Number(match[1]) * 1024 : process.memoryUsage().rss;
};

let session;
// How long the event loop was held up, since the last `loopDelay` probe (diagnostics).
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();

const post = (method, params) =>
  new Promise((resolve, reject) => {
    session.post(method, params, (err, result) => (err ? reject(err) : resolve(result)));
  });

const handlers = {
  memory() {
    // Twice: the first pass can leave garbage reachable only from finalizers.
    if (typeof globalThis.gc === "function") {
      globalThis.gc();
      globalThis.gc();
    }
    const m = process.memoryUsage();
    return {
      gcForced: typeof globalThis.gc === "function",
      rss: vmRssBytes(),
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
    };
  },
  cpu() {
    const usage = process.cpuUsage();
    const elu = performance.eventLoopUtilization();
    return {
      userUs: usage.user,
      systemUs: usage.system,
      eluIdle: elu.idle,
      eluActive: elu.active,
      at: Date.now(),
    };
  },
  loopDelay() {
    const result = { maxMs: loopDelay.max / 1e6, p99Ms: loopDelay.percentile(99) / 1e6 };
    loopDelay.reset();
    return result;
  },
  async profileStart() {
    session ??= new Session();
    session.connect();
    await post("Profiler.enable");
    await post("Profiler.setSamplingInterval", { interval: 500 });
    await post("Profiler.start");
    return {};
  },
  async profileStop({ file }) {
    const { profile } = await post("Profiler.stop");
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
    return { file };
  },
};

if (process.send) {
  process.on("message", async (message) => {
    if (!message || typeof message !== "object" || message.probe === undefined) return;
    const { probe, id, args } = message;
    try {
      const result = await handlers[probe](args ?? {});
      process.send({ probeReply: id, ok: true, result });
    } catch (err) {
      process.send({ probeReply: id, ok: false, error: String(err?.message ?? err) });
    }
  });
  // The orchestrator is gone (crashed or killed): do not outlive it.
  process.on("disconnect", () => process.exit(0));
  process.channel?.unref();
}
