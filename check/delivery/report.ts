import type { CheckReport } from "./run.js";
import { VIOLATION_KINDS, type Violation } from "./verify.js";

const EXAMPLES = 3;

export interface KindSummary {
  kind: string;
  findings: number;
  /** Messages or notifications concerned (a missing range counts each message). */
  affected: number;
  /** Findings in raw and in SDK receivers' views. */
  raw: number;
  sdk: number;
  examples: string[];
}

/** The first few, from each kind of receiver when both saw it. */
function examples(of: Violation[]): string[] {
  const raw = of.filter((v) => v.receiver === "raw").slice(0, 2);
  const sdk = of.filter((v) => v.receiver === "sdk").slice(0, 2);
  const other = of.filter((v) => v.receiver === undefined).slice(0, EXAMPLES);
  return [...raw, ...sdk, ...other].map((v) => v.detail);
}

/** Violations grouped by kind, in the catalogue's order, with the first few of each. */
export function summarizeViolations(violations: Violation[]): KindSummary[] {
  return VIOLATION_KINDS.flatMap((kind) => {
    const of = violations.filter((v) => v.kind === kind);
    if (of.length === 0) return [];
    return [
      {
        kind,
        findings: of.length,
        affected: of.reduce((n, v) => n + v.count, 0),
        raw: of.filter((v) => v.receiver === "raw").length,
        sdk: of.filter((v) => v.receiver === "sdk").length,
        examples: examples(of),
      },
    ];
  });
}

/** The run as plain text: what was done, what was checked, what was wrong. */
export function formatReport(r: CheckReport): string {
  const m = r.messages;
  const n = r.notifications;
  const faults = Object.entries(r.faults)
    .map(([kind, count]) => `${kind} ${count}`)
    .join(", ");
  const lines = [
    `delivery check: seed ${r.seed}, size ${r.size.name}, ${r.size.durationSec} s of traffic, ${r.wallSec} s in all`,
    `  ${r.rooms} rooms; ${r.size.senders} senders; ${r.receivers.raw} raw and ${r.receivers.sdk} SDK receivers; 3 instances; Redis appendonly yes`,
    `  messages: ${m.sent} sent, ${m.acked} acked (${m.attempts} attempts), ${m.stored} stored (${m.storedUnacked} of them never acked)`,
    `  changes: ${r.changes.sent} edits, deletes and reactions sent, ${r.changes.stored} stored, ${r.changes.noop} answered "nothing to change", ${r.changes.refused} refused or unanswered; ${r.changes.statesChecked} messages of history and ${r.changes.modelsChecked} of SDK models compared with the stream folded`,
    `  deliveries checked: ${r.deliveries.raw + r.deliveries.sdk} (raw ${r.deliveries.raw}, SDK ${r.deliveries.sdk})`,
    `  reconnects: raw ${r.reconnects.raw}, SDK ${r.reconnects.sdk}, senders ${r.reconnects.senders}`,
    `  announced gaps: ${r.announcedGaps} (${r.announcedSkipped} messages skipped); recovered:false ${r.notRecovered}; messages of a lost epoch ${r.oldEpoch}`,
    `  notifications: ${n.publishes} publishes (${n.acked} answered 202, ${n.attempts} attempts, ${n.unavailable} answered 503), ${n.items} inbox items`,
    `  faults: ${faults}`,
  ];
  const summary = summarizeViolations(r.violations);
  if (summary.length === 0) {
    lines.push("  violations: none", "PASS");
    return lines.join("\n");
  }
  lines.push(`  violations: ${r.violations.length}`);
  for (const s of summary) {
    const split = s.raw + s.sdk > 0 ? `; raw ${s.raw}, SDK ${s.sdk}` : "";
    lines.push(`    ${s.kind}: ${s.findings} (${s.affected} affected${split})`);
    for (const e of s.examples) lines.push(`      e.g. ${e}`);
  }
  lines.push(`FAIL (replay with --seed ${r.seed})`);
  return lines.join("\n");
}

export function formatJournal(r: CheckReport): string {
  return ["fault journal:", ...r.journal.map((line) => `  ${line}`)].join("\n");
}
