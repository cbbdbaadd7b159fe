import { parseArgs } from "node:util";
import { FAULT_KINDS, type FaultKind } from "./faults.js";

export interface Size {
  name: "quick" | "full";
  durationSec: number;
  rooms: number;
  senders: number;
  rawReceivers: number;
  sdkReceivers: number;
  /** Mean gap between one sender's messages. */
  sendIntervalMs: number;
  /** Of a sender's requests, this share is an edit, a delete or a reaction of one of its messages. */
  changeShare: number;
  /** Mean gap between two client cuts (any client). */
  clientCutEveryMs: number;
  /** Mean gap between two scheduled faults. */
  faultGapMs: number;
  /** Mean gap between two notification publishes (besides the bursts at kills). */
  notifyEveryMs: number;
  killBurst: number;
  /** After traffic: how long receivers get to reach the end of every room. */
  settleMs: number;
}

export const SIZES: Record<Size["name"], Size> = {
  // About a minute of wall time on 2 cores; every fault kind at least once.
  quick: {
    name: "quick",
    durationSec: 35,
    rooms: 2,
    senders: 4,
    rawReceivers: 3,
    sdkReceivers: 3,
    sendIntervalMs: 80,
    changeShare: 0.3,
    clientCutEveryMs: 1200,
    faultGapMs: 3000,
    notifyEveryMs: 600,
    killBurst: 6,
    settleMs: 10_000,
  },
  full: {
    name: "full",
    durationSec: 600,
    rooms: 3,
    senders: 6,
    rawReceivers: 5,
    sdkReceivers: 5,
    sendIntervalMs: 100,
    changeShare: 0.3,
    clientCutEveryMs: 800,
    faultGapMs: 4000,
    notifyEveryMs: 500,
    killBurst: 8,
    settleMs: 15_000,
  },
};

export interface CheckOptions {
  size: Size;
  seed: number;
  faults: FaultKind[];
  /** Aborting stops the run's processes at once (the run then fails). */
  signal?: AbortSignal;
}

export const USAGE = `npm run check:delivery [-- options]

  --size quick|full     quick: ~35 s of traffic (CI); full: 600 s (default: quick)
  --duration <s>        seconds of traffic, overriding the size's
  --seed <n>            the seed of every random choice (default: random, printed)
  --faults a,b          any of ${FAULT_KINDS.join(", ")},
                        or none (default: all)
`;

export function parseOptions(argv: string[]): CheckOptions | "help" {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: "string", default: "quick" },
      duration: { type: "string" },
      seed: { type: "string" },
      faults: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) return "help";
  const base = SIZES[values.size as Size["name"]];
  if (!base) throw new Error(`--size must be quick or full, not ${values.size}`);
  const size = { ...base };
  if (values.duration !== undefined) {
    const seconds = Number(values.duration);
    if (!(seconds >= 5 && seconds <= 24 * 3600)) throw new Error("--duration must be 5..86400 seconds");
    size.durationSec = seconds;
  }
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
    throw new Error("--seed must be an integer in 0..2^32-1");
  const faults =
    values.faults === undefined
      ? [...FAULT_KINDS]
      : values.faults === "none"
        ? []
        : values.faults.split(",").filter(Boolean);
  for (const f of faults)
    if (!(FAULT_KINDS as readonly string[]).includes(f)) throw new Error(`unknown fault ${f}\n${USAGE}`);
  return { size, seed, faults: faults as FaultKind[] };
}
