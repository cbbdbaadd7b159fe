import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/infra/logger.js";
import { createDeliveryWorker } from "../../src/webhooks/delivery.js";
import { createMemoryOutbox } from "../../src/webhooks/outbox-memory.js";

const options = {
  retryWindowMs: 60_000,
  retryBaseMs: 100,
  retryMaxMs: 1000,
  claimIdleMs: 60_000,
  pollMs: 60_000,
  concurrency: 4,
  recoveryScanMs: 3_600_000,
};

/** An outbox with a recovery scan (as on a Cluster) that counts its scans and can fail them. */
function scanningOutbox() {
  const scans = { started: 0, fail: false };
  const outbox = {
    ...createMemoryOutbox({ deadLetterMax: 10 }),
    async recover() {
      scans.started += 1;
      if (scans.fail) throw new Error("node down");
      return 0;
    },
  };
  return { outbox, scans };
}

describe("webhook recovery scan on instance death", () => {
  it("runs one scan for all the instances one sweep finds dead, and a new one for a later sweep", async () => {
    const { outbox, scans } = scanningOutbox();
    let now = 1_000;
    const worker = createDeliveryWorker(options, {
      outbox,
      send: async () => ({ ok: true, status: 200 }),
      consumer: "c1",
      logger: createLogger({ level: "silent", format: "json", instanceId: "t" }),
      clock: () => now,
    });
    worker.start();
    now = 2_000;
    expect(await Promise.all([worker.recoverSince(2_000), worker.recoverSince(2_000)])).toEqual([true, true]);
    expect(scans.started).toBe(1);

    now = 3_000;
    scans.fail = true;
    // A failed scan keeps the dead registration: its next sweep scans again.
    expect(await worker.recoverSince(3_000)).toBe(false);
    scans.fail = false;
    now = 4_000;
    expect(await worker.recoverSince(4_000)).toBe(true);
    expect(scans.started).toBe(3);
    await worker.stop();
  });
});
