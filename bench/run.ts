import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { latencyChart } from "./chart.js";
import { DEFAULT_SCENARIOS, runBench, SCENARIOS, type ScenarioName, summarize } from "./harness.js";
import type { HistogramJson } from "./histogram.js";
import { BENCH_DIR, installExitHook, type ServerKind } from "./processes.js";
import { summarizeProfile } from "./profile.js";
import { buildReport, toMarkdown } from "./report.js";
import { SIZES, scaleDurations, withScaleSize } from "./sizes.js";

const USAGE = `npm run bench [-- options]

  --quick                 CI size (about a minute); default is the full size
  --scenarios a,b         any of ${SCENARIOS.join(", ")} (default: ${DEFAULT_SCENARIOS.join(", ")})
  --servers a,b           baseline,service (default: both, baseline first)
  --duration-scale f      multiply step durations (a trial of the full size: 0.3)
  --scale MxN             the scale scenario with M instances and N connections (e.g. 3x15000),
                          on the chosen size's other settings
  --profile               CPU-profile each server during the ramp (and idle after it), the fan-out steps,
                          the notifications and, in the scale scenario, each survivor during the storm
  --out dir               where to write latest.json/.md/.svg (default bench/results)
`;

/** Histograms as their percentiles plus one compact `bucket:count` string, not thousands of JSON lines. */
function compactHistograms(_key: string, value: unknown): unknown {
  if (value && typeof value === "object" && "counts" in value && "sum" in value) {
    const h = value as HistogramJson;
    return { ...summarize(h), buckets: h.counts.map(([i, c]) => `${i}:${c}`).join(",") };
  }
  return value;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      scenarios: { type: "string" },
      servers: { type: "string" },
      "duration-scale": { type: "string" },
      profile: { type: "boolean", default: false },
      scale: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const scenarios = (values.scenarios?.split(",") ?? [...DEFAULT_SCENARIOS]) as ScenarioName[];
  const servers = (values.servers?.split(",") ?? ["baseline", "service"]) as ServerKind[];
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}\n${USAGE}`);
  for (const s of servers) if (s !== "service" && s !== "baseline") throw new Error(`unknown server ${s}`);
  const scale = Number(values["duration-scale"] ?? "1");
  if (!(scale > 0)) throw new Error("--duration-scale must be a positive number");
  const base = scaleDurations(SIZES[values.quick ? "quick" : "full"], scale);
  const size = values.scale ? withScaleSize(base, values.scale) : base;
  const outDir = values.out ?? `${BENCH_DIR}results`;
  const profileDir = values.profile ? `${outDir}/tmp` : undefined;

  installExitHook();
  const log = (line: string) => process.stdout.write(`[bench] ${line}\n`);
  log(
    `size ${size.name}${scale !== 1 ? ` (durations × ${scale})` : ""}: ${scenarios.join(", ")} on ${servers.join(", ")}`,
  );
  const run = await runBench({ size, scenarios, servers, profileDir, log });

  const report = buildReport(run, size);
  mkdirSync(outDir, { recursive: true });
  // The scale scenario alone keeps its own files: the full run's latest.* stay as they are.
  const scaleOnly = scenarios.length === 1 && scenarios[0] === "scale";
  const latest = `${outDir}/${scaleOnly ? "scale-latest" : "latest"}`;
  writeFileSync(`${latest}.json`, `${JSON.stringify(report, compactHistograms, 2)}\n`);
  const markdown = toMarkdown(report);
  writeFileSync(`${latest}.md`, markdown);
  const m = report.meta;
  if (!scaleOnly) {
    writeFileSync(
      `${outDir}/latency-vs-throughput.svg`,
      latencyChart(run, `${m.size} size · ${m.machine.cores} cores · ${m.startedAt.slice(0, 16)}`),
    );
  }
  if (profileDir) {
    // The profiles a scenario writes under its own name (the ramp's idle one under "idle").
    const own = (scenario: "ramp" | "notify", name: string = scenario) =>
      Object.entries(run[scenario]).flatMap(([kind, o]) =>
        o?.ok ? [`${profileDir}/${kind}-${name}.cpuprofile`] : [],
      );
    const profiles = [
      ...own("ramp"),
      ...own("ramp", "idle"),
      ...own("notify"),
      ...[run.fanout, run.fanout2, run.scale].flatMap((r) =>
        Object.values(r).flatMap((o) => (o?.ok ? o.value.profiles : [])),
      ),
    ];
    const summary = profiles.map((p) => summarizeProfile(p)).join("\n");
    writeFileSync(
      `${profileDir}/profile-summary.md`,
      `# CPU profiles of the ramp, the fan-out steps, the notifications and the storm\n\n${summary}`,
    );
    log(`profiles: ${profiles.join(", ")}; summary in ${profileDir}/profile-summary.md`);
  }
  process.stdout.write(`\n${markdown}\n`);
  log(`wrote ${latest}.json, ${latest}.md${scaleOnly ? "" : ", latency-vs-throughput.svg"}`);

  const lost = Object.entries(report.lost).filter(([, v]) => v !== 0);
  const errors = Object.keys(report.errors);
  if (lost.length > 0 || errors.length > 0) {
    log(
      `FAILED: ${[...lost.map(([k, v]) => `${k} lost ${v}`), ...errors.map((e) => `${e} failed`)].join("; ")}`,
    );
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
