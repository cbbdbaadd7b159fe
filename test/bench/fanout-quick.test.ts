import { afterAll, describe, expect, it } from "vitest";
import { type FanoutResult, runBench } from "../../bench/harness.js";
import { killAllChildren } from "../../bench/processes.js";
import { SIZES } from "../../bench/sizes.js";

/**
 * The CI size of the room fan-out scenario, end to end: private Redis, the built
 * service (`dist/main.js`, `npm test` builds it) and the baseline as child processes,
 * the load generator in its own process. Asserts zero loss only; speed figures are
 * not asserted anywhere (CI machines are noisy).
 */
describe("quick room fan-out benchmark", () => {
  afterAll(() => killAllChildren());

  it("delivers every message to every member of its room, on the service and on the baseline", async () => {
    const run = await runBench({
      size: SIZES.quick,
      scenarios: ["fanout"],
      servers: ["baseline", "service"],
    });

    for (const kind of ["baseline", "service"] as const) {
      const outcome = run.fanout[kind];
      expect(outcome, kind).toBeDefined();
      if (!outcome?.ok) throw new Error(`${kind} fan-out failed: ${outcome?.error}`);
      const result: FanoutResult = outcome.value;
      expect(result.join.joined, kind).toBe(SIZES.quick.fanout.rooms * SIZES.quick.fanout.members);
      const steps = [...result.steps, ...(result.half ? [result.half] : [])];
      expect(steps.length, kind).toBeGreaterThanOrEqual(2);
      for (const step of steps) {
        const where = `${kind} step ${step.step} at ${step.ratePerSec}/s`;
        expect(step.sent, where).toBeGreaterThan(0);
        expect(step.membersPerRoom, where).toBe(SIZES.quick.fanout.members);
        expect(step.ackErrors, where).toEqual({});
        expect(step.ackMissing, where).toBe(0);
        expect(step.ackOk, where).toBe(step.sent);
        expect(step.delivered, where).toBe(step.sent * step.membersPerRoom);
        expect(step.disconnects, where).toBe(0);
      }
    }
  }, 120_000);
});
