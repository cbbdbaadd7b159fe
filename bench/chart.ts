import type { BenchRun, FanoutResult } from "./harness.js";
import { summarize } from "./harness.js";
import type { ServerKind } from "./processes.js";

/**
 * Latency against throughput, one panel per topology: x is delivered msgs/s, y is the
 * end-to-end latency on a log scale (p99 solid, p50 dotted), one colour per server,
 * points joined in order of offered load.
 * Hand-written SVG so the harness needs no chart library.
 */

const COLORS: Record<ServerKind, string> = { service: "#1f6feb", baseline: "#d9480f" };
const PANEL_W = 520;
const PANEL_H = 360;
const M = { left: 64, right: 16, top: 36, bottom: 48 };

interface Point {
  x: number;
  y: number;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function series(f: FanoutResult, pct: "p50Ms" | "p99Ms"): Point[] {
  // In order of offered load, so a server past saturation shows as the curve bending
  // back (less delivered, far more latency) instead of a zig-zag.
  return [...f.steps]
    .sort((a, b) => a.ratePerSec - b.ratePerSec)
    .map((s) => ({ x: s.deliveredPerSec, y: summarize(s.e2e)[pct] }))
    .filter((p) => Number.isFinite(p.y) && p.y > 0);
}

function panel(title: string, data: Partial<Record<ServerKind, FanoutResult>>, offsetX: number): string {
  const all = Object.values(data).flatMap((f) => (f ? [...series(f, "p50Ms"), ...series(f, "p99Ms")] : []));
  const out: string[] = [`<g transform="translate(${offsetX},0)">`];
  out.push(`<text x="${PANEL_W / 2}" y="20" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  const plotW = PANEL_W - M.left - M.right;
  const plotH = PANEL_H - M.top - M.bottom;
  if (all.length === 0) {
    out.push(
      `<text x="${PANEL_W / 2}" y="${PANEL_H / 2}" text-anchor="middle" fill="#888">no data</text></g>`,
    );
    return out.join("\n");
  }
  const xMax = niceMax(Math.max(...all.map((p) => p.x)) * 1.05);
  const yMinExp = Math.floor(Math.log10(Math.min(...all.map((p) => p.y))));
  const yMaxExp = Math.max(yMinExp + 1, Math.ceil(Math.log10(Math.max(...all.map((p) => p.y)))));
  const sx = (x: number) => M.left + (x / xMax) * plotW;
  const sy = (y: number) => M.top + plotH - ((Math.log10(y) - yMinExp) / (yMaxExp - yMinExp)) * plotH;

  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  for (let i = 0; i <= 5; i++) {
    const x = (xMax * i) / 5;
    out.push(
      `<line x1="${sx(x)}" y1="${M.top}" x2="${sx(x)}" y2="${M.top + plotH}" stroke="#eee"/>`,
      `<text x="${sx(x)}" y="${M.top + plotH + 16}" text-anchor="middle" font-size="11">${Math.round(x).toLocaleString("en-US")}</text>`,
    );
  }
  for (let e = yMinExp; e <= yMaxExp; e++) {
    for (const m of [1, 2, 5]) {
      const y = m * 10 ** e;
      if (e === yMaxExp && m > 1) break;
      out.push(
        `<line x1="${M.left}" y1="${sy(y)}" x2="${M.left + plotW}" y2="${sy(y)}" stroke="${m === 1 ? "#ddd" : "#f3f3f3"}"/>`,
        `<text x="${M.left - 6}" y="${sy(y) + 4}" text-anchor="end" font-size="11">${y >= 1 ? y : y.toPrecision(1)}</text>`,
      );
    }
  }
  out.push(
    `<text x="${M.left + plotW / 2}" y="${PANEL_H - 10}" text-anchor="middle" font-size="12">delivered messages / s</text>`,
    `<text transform="translate(16,${M.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">end-to-end latency, ms (log)</text>`,
  );
  for (const kind of ["baseline", "service"] as const) {
    const f = data[kind];
    if (!f) continue;
    for (const pct of ["p99Ms", "p50Ms"] as const) {
      const pts = series(f, pct);
      const d = pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
      const dash = pct === "p50Ms" ? ' stroke-dasharray="3,3"' : "";
      out.push(`<polyline points="${d}" fill="none" stroke="${COLORS[kind]}" stroke-width="2"${dash}/>`);
      for (const p of pts) {
        out.push(
          `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="2.5" fill="${COLORS[kind]}"/>`,
        );
      }
    }
  }
  out.push("</g>");
  return out.join("\n");
}

export function latencyChart(run: BenchRun, subtitle: string): string {
  const pick = (scenario: "fanout" | "fanout2") => {
    const data: Partial<Record<ServerKind, FanoutResult>> = {};
    for (const kind of ["service", "baseline"] as const) {
      const o = run[scenario][kind];
      if (o?.ok) data[kind] = o.value;
    }
    return data;
  };
  const width = PANEL_W * 2;
  const height = PANEL_H + 60;
  const legendY = PANEL_H + 24;
  const legend = (["service", "baseline"] as const)
    .map(
      (kind, i) =>
        `<line x1="${40 + i * 260}" y1="${legendY}" x2="${70 + i * 260}" y2="${legendY}" stroke="${COLORS[kind]}" stroke-width="2"/><text x="${76 + i * 260}" y="${legendY + 4}" font-size="12">${kind} p99</text>` +
        `<line x1="${160 + i * 260}" y1="${legendY}" x2="${190 + i * 260}" y2="${legendY}" stroke="${COLORS[kind]}" stroke-width="2" stroke-dasharray="3,3"/><text x="${196 + i * 260}" y="${legendY + 4}" font-size="12">${kind} p50</text>`,
    )
    .join("\n");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel("Room fan-out, 1 instance", pick("fanout"), 0),
    panel("Room fan-out, 2 instances", pick("fanout2"), PANEL_W),
    legend,
    `<text x="${width - 10}" y="${legendY + 4}" text-anchor="end" font-size="11" fill="#666">${esc(subtitle)}</text>`,
    "</svg>",
    "",
  ].join("\n");
}
