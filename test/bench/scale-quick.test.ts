import { afterAll, describe, expect, it } from "vitest";
import { runBench } from "../../bench/harness.js";
import { killAllChildren } from "../../bench/processes.js";
import { SIZES } from "../../bench/sizes.js";

/**
 * The CI size of the scale scenario, end to end: three instances of the built service
 * over one private Redis, idle connections from two load-generator processes and two
 * source addresses, then one instance SIGKILLed. Asserts that every connection was held
 * and every one of the killed instance's clients came back (with the SDK's backoff), that
 * nobody else lost their connection, and that presence is right afterwards. Nothing
 * about speed.
 */
describe("quick scale benchmark", () => {
  afterAll(() => killAllChildren());

  it("holds every connection and, after a SIGKILL, brings every client of the killed instance back with presence right", async () => {
    const run = await runBench({ size: SIZES.quick, scenarios: ["scale"], servers: ["service"] });
    const outcome = run.scale.service;
    if (!outcome?.ok) throw new Error(`scale scenario failed: ${outcome?.error}`);
    const r = outcome.value;
    const s = SIZES.quick.scale;
    expect(r.connected).toBe(s.connections);
    expect(r.kill.clients).toBeGreaterThan(0);
    expect(r.kill.back).toBe(r.kill.clients);
    expect(r.kill.othersLost).toBe(0);
    // Only documented limits may refuse: admission control, while the survivors absorb the storm.
    for (const code of Object.keys(r.kill.refusals)) expect(["UNAVAILABLE", "ECONNREFUSED"]).toContain(code);
    expect(r.kill.presence?.wrong).toBe(0);
    expect(r.kill.presence?.othersFlapped).toBe(0);
  }, 240_000);
});
