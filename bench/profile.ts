import { readFileSync } from "node:fs";

/**
 * Where the time goes, from a V8 .cpuprofile: self time per function and per package.
 * The files themselves open as flame graphs in Chrome DevTools (Performance tab) or
 * speedscope; this summary is what fits in a report.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

function packageOf(url: string): string {
  if (!url) return "(native, gc, program)";
  if (url.startsWith("node:")) return "node internals";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] as string;
  const own = /\/(dist|src|bench)\/(.*)$/.exec(url);
  if (own) return `${own[1]}/${(own[2] as string).split("/")[0]}`;
  return url;
}

export function summarizeProfile(file: string, top = 25): string {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  // Shares of the busy time: idle samples only say the server had spare capacity.
  const idle = profile.nodes
    .filter((n) => n.callFrame.functionName === "(idle)")
    .reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const allHits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const totalHits = allHits - idle || 1;
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0 || node.callFrame.functionName === "(idle)") continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url.replace(/^file:\/\/.*?\/(node_modules|dist|src|bench)\//, "$1/");
    const key = `${functionName || "(anonymous)"} ${short ? `${short}:${lineNumber + 1}` : ""}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
    const pkg = packageOf(url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + hits);
  }
  const pct = (hits: number) => `${((hits / totalHits) * 100).toFixed(1)} %`;
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  const seconds = ((profile.endTime - profile.startTime) / 1e6).toFixed(1);
  return [
    `### ${file.split("/").pop()} (${seconds} s sampled, busy ${((totalHits / (allHits || 1)) * 100).toFixed(0)} %)`,
    "",
    "Self time as a share of the busy (non-idle) samples.",
    "",
    "| Self time | Package |",
    "| ---: | --- |",
    ...sorted(byPackage)
      .slice(0, 15)
      .map(([k, v]) => `| ${pct(v)} | ${k} |`),
    "",
    "| Self time | Function |",
    "| ---: | --- |",
    ...sorted(byFunction)
      .slice(0, top)
      .map(([k, v]) => `| ${pct(v)} | \`${k}\` |`),
    "",
  ].join("\n");
}
