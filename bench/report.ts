import { execFileSync } from "node:child_process";
import { cpus, release, totalmem } from "node:os";
import type { BenchRun, FanoutResult, MeasuredStep, Outcome } from "./harness.js";
import { summarize } from "./harness.js";
import { SERVICE_BENCH_ENV, type ServerKind } from "./processes.js";
import type { BenchSize } from "./sizes.js";

export interface Figure {
  id: string;
  label: string;
  unit: string;
  /** Which way is better: the ratio is always service / baseline. */
  better: "higher" | "lower";
  service: number | null;
  baseline: number | null;
  ratio: number | null;
}

export interface BarCheck {
  label: string;
  value: number | null;
  target: string;
  met: boolean | null;
}

export interface BenchReport {
  meta: {
    size: BenchSize["name"];
    startedAt: string;
    elapsedSec: number;
    machine: { cpuModel: string; cores: number; memoryGiB: number; kernel: string };
    node: string;
    redis: string;
    commit: string;
    notes: string[];
  };
  size: BenchSize;
  figures: Figure[];
  bar: BarCheck[];
  /** Sent × members minus delivered, over every step of every scenario; must be 0. */
  lost: Record<string, number>;
  errors: Record<string, string>;
  run: BenchRun;
}

const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

function commitOf(): string {
  try {
    const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain"], { encoding: "utf8" }).trim() !== "";
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return "unknown";
  }
}

function value<T>(o: Outcome<T> | undefined): T | undefined {
  return o?.ok ? o.value : undefined;
}

export function buildReport(run: BenchRun, size: BenchSize): BenchReport {
  const figures: Figure[] = [];
  const add = (
    id: string,
    label: string,
    unit: string,
    better: Figure["better"],
    pick: (kind: ServerKind) => number | undefined,
  ) => {
    const service = pick("service");
    const baseline = pick("baseline");
    const ok = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? null : v);
    const s = ok(service);
    const b = ok(baseline);
    figures.push({
      id,
      label,
      unit,
      better,
      service: s,
      baseline: b,
      ratio: s !== null && b !== null && b !== 0 ? round(s / b) : null,
    });
  };

  const ramp = (k: ServerKind) => value(run.ramp[k]);
  add("ramp.connected", "Ramp: connections held", "sockets", "higher", (k) => ramp(k)?.connect.connected);
  add(
    "ramp.connectsPerSec",
    "Ramp: connect rate",
    "conn/s",
    "higher",
    (k) => ramp(k)?.connect.connectsPerSec,
  );
  add("ramp.rssPerConn", "Ramp: RSS per idle connection", "KB", "lower", (k) => {
    const r = ramp(k);
    return r && round(r.rssPerConnection / 1024, 1);
  });
  add("ramp.heapPerConn", "Ramp: heap after GC per idle connection", "KB", "lower", (k) => {
    const r = ramp(k);
    return r && round(r.heapPerConnection / 1024, 1);
  });

  for (const [scenario, title] of [
    ["fanout", "Fan-out, 1 instance"],
    ["fanout2", "Fan-out, 2 instances"],
  ] as const) {
    const fan = (k: ServerKind) => value(run[scenario][k]);
    const half = (k: ServerKind) => {
      const h = fan(k)?.half;
      return h ? { e2e: summarize(h.e2e), ack: summarize(h.ack) } : undefined;
    };
    add(
      `${scenario}.saturation`,
      `${title}: delivered msgs/s at saturation`,
      "msg/s",
      "higher",
      (k) => fan(k)?.saturation.deliveredPerSec,
    );
    add(
      `${scenario}.halfRate`,
      `${title}: load of the 50 % step (baseline's saturation / 2)`,
      "send/s",
      "higher",
      (k) => fan(k)?.half?.sentPerSec,
    );
    for (const p of ["p50", "p95", "p99"] as const) {
      add(`${scenario}.half.e2e.${p}`, `${title}: e2e latency ${p} at 50 % load`, "ms", "lower", (k) => {
        const h = half(k);
        return h?.e2e[`${p}Ms`];
      });
    }
    for (const p of ["p50", "p99"] as const) {
      add(`${scenario}.half.ack.${p}`, `${title}: ack latency ${p} at 50 % load`, "ms", "lower", (k) => {
        const h = half(k);
        return h?.ack[`${p}Ms`];
      });
    }
  }

  const notify = (k: ServerKind) => value(run.notify[k]);
  add(
    "notify.delivered",
    "Notifications: delivered/s",
    "notif/s",
    "higher",
    (k) => notify(k)?.deliveredPerSec,
  );
  add(
    "notify.requests",
    "Notifications: HTTP requests/s",
    "req/s",
    "higher",
    (k) => notify(k)?.requestsPerSec,
  );
  add("notify.http.p99", "Notifications: HTTP latency p99", "ms", "lower", (k) => {
    const n = notify(k);
    return n && summarize(n.http).p99Ms;
  });
  for (const p of ["p50", "p99"] as const) {
    add(`notify.e2e.${p}`, `Notifications: e2e latency ${p}`, "ms", "lower", (k) => {
      const n = notify(k);
      return n && summarize(n.e2e)[`${p}Ms`];
    });
  }

  const scale = (k: ServerKind) => value(run.scale[k]);
  add("scale.connected", "Scale: connections held", "conn", "higher", (k) => scale(k)?.connected);
  add(
    "scale.connectsPerSec",
    "Scale: connect rate, all instances",
    "conn/s",
    "higher",
    (k) => scale(k)?.connectsPerSec,
  );
  add("scale.rssPerConn", "Scale: RSS per idle connection", "KB", "lower", (k) => {
    const r = scale(k);
    return r && round(r.rssPerConnection / 1024, 1);
  });
  add("scale.heapPerConn", "Scale: heap after GC per idle connection", "KB", "lower", (k) => {
    const r = scale(k);
    return r && round(r.heapPerConnection / 1024, 1);
  });
  add(
    "scale.redisPerConn",
    "Scale: Redis memory per connection",
    "B",
    "lower",
    (k) => scale(k)?.redisBytesPerConnection,
  );
  add(
    "scale.redisCommandsPerConn",
    "Scale: Redis commands per connection (ramp)",
    "cmd",
    "lower",
    (k) => scale(k)?.redisCommandsPerConnection,
  );
  add(
    "scale.redisCpuPerConn",
    "Scale: Redis CPU per connection (ramp)",
    "µs",
    "lower",
    (k) => scale(k)?.redisCpuUsPerConnection,
  );
  add("scale.idleCpu", "Scale: idle CPU per instance (mean)", "% core", "lower", (k) => {
    const cpu = scale(k)?.idle.instanceCpu;
    return cpu && round(cpu.reduce((a, b) => a + b, 0) / Math.max(1, cpu.length), 1);
  });
  add(
    "scale.redisIdleCpu",
    "Scale: Redis CPU at idle",
    "% core",
    "lower",
    (k) => scale(k)?.idle.redisCpuPercent,
  );
  add(
    "scale.redisIdleCommands",
    "Scale: Redis commands/s at idle",
    "cmd/s",
    "lower",
    (k) => scale(k)?.idle.redisCommandsPerSec,
  );
  for (const p of ["p50", "p99", "max"] as const) {
    add(
      `scale.back.${p}`,
      `Scale: SIGKILL, clients back after (${p})`,
      "ms",
      "lower",
      (k) => scale(k)?.kill.backAfter[`${p}Ms`],
    );
  }

  const lost: Record<string, number> = {};
  const errors: Record<string, string> = {};
  for (const scenario of ["ramp", "fanout", "fanout2", "notify", "scale"] as const) {
    for (const kind of ["service", "baseline"] as const) {
      const o = run[scenario][kind] as Outcome<unknown> | undefined;
      if (!o) continue;
      if (!o.ok) errors[`${scenario}.${kind}`] = o.error;
      if (scenario === "fanout" || scenario === "fanout2") {
        const f = value(run[scenario][kind]);
        if (f) {
          const all = [...f.steps, ...(f.half ? [f.half] : [])];
          lost[`${scenario}.${kind}`] = all.reduce(
            (sum, s) => sum + s.lost + s.ackMissing + Object.values(s.ackErrors).reduce((a, b) => a + b, 0),
            0,
          );
        }
      }
      if (scenario === "notify") {
        const n = value(run.notify[kind]);
        if (n) lost[`notify.${kind}`] = n.lost;
      }
      if (scenario === "scale") {
        // Connections not held, not back after the kill, or lost on a survivor.
        const r = value(run.scale[kind]);
        if (r)
          lost[`scale.${kind}`] =
            r.requested - r.connected + (r.kill.clients - r.kill.back) + r.kill.othersLost;
      }
    }
  }
  const moderation = run.moderation.service;
  if (moderation && !moderation.ok) errors["moderation.service"] = moderation.error;
  if (moderation?.ok) {
    lost["moderation.service"] = [moderation.value.without, moderation.value.withHook].reduce(
      (sum, s) => sum + s.lost + s.ackMissing + Object.values(s.ackErrors).reduce((a, b) => a + b, 0),
      0,
    );
  }

  const fig = (id: string) => figures.find((f) => f.id === id);
  const bar: BarCheck[] = [];
  const check = (label: string, v: number | null | undefined, target: string, met: (v: number) => boolean) =>
    bar.push({ label, value: v ?? null, target, met: v === null || v === undefined ? null : met(v) });
  check(
    "Fan-out delivered msgs/s at saturation, service / baseline",
    fig("fanout.saturation")?.ratio,
    ">= 0.9 (aim >= 1.0)",
    (v) => v >= 0.9,
  );
  check(
    "Fan-out p99 e2e at 50 % of the baseline's saturation, service / baseline",
    fig("fanout.half.e2e.p99")?.ratio,
    "<= 1.2",
    (v) => v <= 1.2,
  );
  check(
    "RSS per idle authenticated connection, service / baseline",
    fig("ramp.rssPerConn")?.ratio,
    "<= 1.5",
    (v) => v <= 1.5,
  );
  check(
    "Concurrent connections on one service instance",
    fig("ramp.connected")?.service,
    ">= 10000 (full size)",
    (v) => v >= 10_000,
  );

  const cpu = cpus();
  return {
    meta: {
      size: size.name,
      startedAt: run.startedAt,
      elapsedSec: Math.round(run.elapsedMs / 1000),
      machine: {
        cpuModel: cpu[0]?.model ?? "unknown",
        cores: cpu.length,
        memoryGiB: round(totalmem() / 2 ** 30, 1),
        kernel: release(),
      },
      node: process.version,
      redis: run.redisVersion,
      commit: commitOf(),
      notes: [
        `The service runs with its per-user rate limits raised (${["RATE_CHAT_SEND_PER_SEC", "RATE_CHAT_SEND_BURST", "RATE_CHAT_JOIN_PER_SEC", "RATE_INTERNAL_API_PER_SEC", "RATE_CONNECT_PER_IP_PER_MIN"].map((k) => `${k}=${SERVICE_BENCH_ENV[k]}`).join(", ")}) so the bench measures throughput, not the limiter; the limiters still run on every event.`,
        "The service persists every message to a Redis Stream before the ack; the baseline persists nothing. Redis runs without AOF or snapshots.",
        "Servers and load generator share the machine: the load generator's CPU is shown per step; a step where it is near 100 % measured the client, not the server.",
        ...(size.name === "quick"
          ? ["Quick size: figures are for CI smoke only; the bar applies to the full size."]
          : []),
      ],
    },
    size,
    figures,
    bar,
    lost,
    errors,
    run,
  };
}

const fmt = (v: number | null | undefined): string => {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) >= 100) return String(Math.round(v));
  return String(round(v, 2));
};

function stepRows(kind: ServerKind, f: FanoutResult): string[] {
  const row = (s: MeasuredStep, label: string) => {
    const e2e = summarize(s.e2e);
    const ack = summarize(s.ack);
    return `| ${kind} | ${label} | ${fmt(s.sentPerSec)} | ${fmt(s.deliveredPerSec)} | ${fmt(ack.p50Ms)} / ${fmt(ack.p99Ms)} | ${fmt(e2e.p50Ms)} / ${fmt(e2e.p95Ms)} / ${fmt(e2e.p99Ms)} | ${s.lost} | ${s.servers.map((c) => fmt(c.cpuPercent)).join(" + ")} | ${fmt(s.loadCpuPercent)} | ${fmt(s.redisCpuPercent)} | ${fmt(s.machineBusyPercent)} | ${s.saturated ? s.reason : ""} |`;
  };
  return [
    ...f.steps.map((s) => row(s, fmt(s.ratePerSec))),
    ...(f.half ? [row(f.half, `${fmt(f.half.ratePerSec)} (50 %)`)] : []),
  ];
}

export function toMarkdown(report: BenchReport): string {
  const m = report.meta;
  const lines: string[] = [
    "# Benchmark: the service vs a bare Socket.IO + Redis adapter server",
    "",
    `${m.startedAt} · **${m.size}** size · ${m.elapsedSec} s · ${m.machine.cores} × ${m.machine.cpuModel}, ${m.machine.memoryGiB} GiB, Linux ${m.machine.kernel} · Node ${m.node} · Redis ${m.redis} · commit ${m.commit}`,
    "",
    ...m.notes.map((n) => `- ${n}`),
    "",
    "## Figures",
    "",
    "Ratio = service / baseline; the last column says which way is better.",
    "",
    "| Figure | Service | Baseline | Ratio | Better |",
    "| --- | ---: | ---: | ---: | --- |",
    ...report.figures.map(
      (f) =>
        `| ${f.label} (${f.unit}) | ${fmt(f.service)} | ${fmt(f.baseline)} | ${f.ratio === null ? "–" : `${f.ratio.toFixed(2)}×`} | ${f.better} |`,
    ),
    "",
    ...(() => {
      const notReached = (["fanout", "fanout2"] as const).flatMap((scenario) =>
        (["service", "baseline"] as const).flatMap((kind) => {
          const o = report.run[scenario][kind];
          return o?.ok && !o.value.saturation.reached ? [`${scenario} ${kind}`] : [];
        }),
      );
      return notReached.length > 0
        ? [
            "",
            `Saturation was not reached (${notReached.join(", ")}): "at saturation" is then the highest load offered, not the server's limit.`,
          ]
        : [];
    })(),
    "",
    "## Loss (delivered must equal sent × members)",
    "",
    "| Scenario | Lost, failed or unacknowledged |",
    "| --- | ---: |",
    ...Object.entries(report.lost).map(([k, v]) => `| ${k} | ${v} |`),
    "",
    `## The bar${m.size === "quick" ? " (not meaningful at quick size)" : ""}`,
    "",
    "| Bar | Value | Target | Met |",
    "| --- | ---: | --- | --- |",
    ...report.bar.map(
      (b) =>
        `| ${b.label} | ${fmt(b.value)} | ${b.target} | ${b.met === null ? "–" : b.met ? "yes" : "no"} |`,
    ),
  ];
  for (const [scenario, title] of [
    ["fanout", "Fan-out steps, 1 instance"],
    ["fanout2", "Fan-out steps, 2 instances"],
  ] as const) {
    const rows: string[] = [];
    for (const kind of ["baseline", "service"] as const) {
      const o = report.run[scenario][kind];
      if (o?.ok) rows.push(...stepRows(kind, o.value));
    }
    if (rows.length === 0) continue;
    const any = Object.values(report.run[scenario]).find((o) => o?.ok);
    const shape = any?.ok
      ? ` (${report.size.fanout.rooms} rooms × ${report.size.fanout.members} members)`
      : "";
    lines.push(
      "",
      `## ${title}${shape}`,
      "",
      "CPU columns: % of one core for the server process(es), the load generator and Redis; machine: % of all cores busy.",
      "",
      "| Server | Offered send/s | Sent/s | Delivered msg/s | Ack p50 / p99 ms | E2E p50 / p95 / p99 ms | Lost | Server CPU | Load CPU | Redis CPU | Machine busy | Saturated |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
      ...rows,
    );
  }
  lines.push(...scaleSection(report));
  const moderation = report.run.moderation.service;
  if (moderation?.ok) {
    const m = moderation.value;
    const row = (label: string, step: MeasuredStep) => {
      const ack = summarize(step.ack);
      const e2e = summarize(step.e2e);
      return `| ${label} | ${m.ratePerSec} | ${fmt(ack.p50Ms)} / ${fmt(ack.p99Ms)} | ${fmt(e2e.p50Ms)} / ${fmt(e2e.p99Ms)} | ${step.lost} | ${fmt(step.servers[0]?.cpuPercent)} |`;
    };
    lines.push(
      "",
      `## Moderation hook (service, 1 instance, ${report.size.fanout.rooms} rooms × ${report.size.fanout.members} members)`,
      "",
      `The same step without and with MESSAGE_HOOK_URL pointing at a local receiver that allows every message (${m.hookCalls} calls).`,
      "",
      "| Run | Offered send/s | Ack p50 / p99 ms | E2E p50 / p99 ms | Lost | Server CPU |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      row("without the hook", m.without),
      row("with the hook", m.withHook),
    );
  }
  if (Object.keys(report.errors).length > 0) {
    lines.push("", "## Errors", "");
    for (const [k, v] of Object.entries(report.errors)) lines.push(`- **${k}**: ${v.split("\n")[0]}`);
  }
  lines.push("", "Chart: [latency-vs-throughput.svg](latency-vs-throughput.svg)", "");
  return lines.join("\n");
}

function scaleSection(report: BenchReport): string[] {
  const rows: string[] = [];
  for (const kind of ["baseline", "service"] as const) {
    const o = report.run.scale[kind];
    if (!o?.ok) continue;
    const r = o.value;
    const k = r.kill;
    const presence = k.presence
      ? `${k.presence.wrong === 0 ? `right after ${fmt(k.presence.correctAfterMs)} ms` : `${k.presence.wrong} users wrong`}; offline flaps: others ${k.presence.othersFlapped}, killed ${k.presence.killedFlapped} (of ${k.presence.watched} watched)`
      : "n/a";
    const refusals = (counts: Record<string, number>) =>
      Object.keys(counts).length === 0
        ? "none"
        : Object.entries(counts)
            .map(([code, n]) => `${code} ${n}`)
            .join(", ");
    rows.push(
      `| ${kind} | ${fmt(r.connected)} / ${fmt(r.requested)} | ${fmt(r.connectsPerSec)} | ${refusals(r.rampRefusals)} | ${r.idle.instanceCpu.join(", ")} | ${fmt(r.idle.redisCpuPercent)} / ${fmt(r.idle.redisCommandsPerSec)} | ${fmt(k.back)} / ${fmt(k.clients)} | ${fmt(k.backAfter.p50Ms)} / ${fmt(k.backAfter.p99Ms)} / ${fmt(k.backAfter.maxMs)} | ${refusals(k.refusals)} | ${fmt(k.othersLost)} | ${presence} |`,
    );
  }
  if (rows.length === 0) return [];
  const s = report.size.scale;
  return [
    "",
    `## Scale: ${s.instances} instances, ${s.connections.toLocaleString("en-US")} idle connections, one SIGKILLed`,
    "",
    `${s.workers} load-generator processes, source addresses 127.0.1.1–127.0.1.${s.addresses}; the killed instance's clients reconnect to the others with the SDK's backoff (socket.io-client 500 ms doubling, ±50 %, at most 5 s; a refusal's retryAfterMs plus jitter). Idle CPU in % of one core, over ${fmt(s.idleMs)} ms.`,
    "",
    "| Server | Held | Conn/s | Ramp refusals | Idle CPU per instance | Redis idle CPU / cmd/s | Back | Back after p50 / p99 / max ms | Refusals while back | Survivors' clients lost | Presence |",
    "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | --- | ---: | --- |",
    ...rows,
  ];
}
