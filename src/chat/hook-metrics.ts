import { Counter, Histogram, type Registry } from "prom-client";

export type HookName = "room_access" | "moderation";

/** What each hook's calls can come to; the series exist at 0 from the start. */
const OUTCOMES: Record<HookName, readonly string[]> = {
  room_access: ["allow", "deny", "failed"],
  moderation: ["allow", "reject", "replace", "failed"],
};

/**
 * The backend hooks' series, in the service's registry (src/infra/metrics.ts):
 * - rt_backend_hook_calls_total{hook, outcome}: each call to the room access or moderation hook;
 * - rt_backend_hook_duration_seconds{hook}: one call, answered or not (a timeout counts its deadline).
 * A cached room access answer is no call.
 */
export function createHookMetrics(registry: Registry) {
  const calls = new Counter({
    name: "rt_backend_hook_calls_total",
    help: "Calls to the backend's room access and moderation hooks, by outcome (failed: timeout, 5xx or unreadable)",
    labelNames: ["hook", "outcome"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "rt_backend_hook_duration_seconds",
    help: "Time of one call to a backend hook",
    labelNames: ["hook"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  for (const [hook, outcomes] of Object.entries(OUTCOMES)) {
    for (const outcome of outcomes) calls.inc({ hook, outcome }, 0);
  }
  return (hook: HookName) => (outcome: string, seconds: number) => {
    calls.inc({ hook, outcome });
    duration.observe({ hook }, seconds);
  };
}
