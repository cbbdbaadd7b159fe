import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FeaturesFactory } from "../../src/app.js";
import { connectionCapacity, FD_RESERVE, openFileLimit } from "../../src/infra/open-files.js";
import { closeSdkClients, recordSdk, sdkClient } from "../client/support.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connectClient, connectError, connected, eventually } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * HANDSHAKE_MAX_IN_FLIGHT bounds the handshakes in progress on one instance: beyond it a
 * handshake is refused at once with 503 UNAVAILABLE and a retry hint, /ready says the
 * instance is saturated, and the SDK comes back after the hint.
 */

const apps: TestApp[] = [];
afterEach(async () => {
  closeSdkClients();
  closeAllClients();
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** An app whose handshakes wait, in their admit phase, until the test opens the gate. */
async function gatedApp(maxInFlight: number) {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  let waiting = 0;
  let arrivals: number[] = [];
  const features: FeaturesFactory = () => [
    {
      name: "gate",
      handshake: [
        {
          phase: "admit",
          async run() {
            arrivals.push(Date.now());
            waiting += 1;
            await opened;
            waiting -= 1;
          },
        },
      ],
    },
  ];
  const t = await startApp({ HANDSHAKE_MAX_IN_FLIGHT: String(maxInFlight) }, features);
  apps.push(t);
  return {
    t,
    open,
    waiting: () => waiting,
    arrivals: () => arrivals,
    resetArrivals: () => {
      arrivals = [];
    },
  };
}

const ready = async (url: string) => {
  const res = await fetch(`${url}/ready`);
  return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
};

describe("admission control", () => {
  it("refuses handshakes beyond HANDSHAKE_MAX_IN_FLIGHT at once with 503 UNAVAILABLE and a retry hint", async () => {
    const gate = await gatedApp(2);
    const token = await tokenFor("stormer");
    const held = [connectClient(gate.t.url, token), connectClient(gate.t.url, token)];
    await eventually(() => gate.waiting() === 2);
    // Refused while the two are still waiting: not queued behind them.
    const err = await connectError(gate.t.url, token);
    expect(err.message).toBe("connection refused");
    expect(err.data).toEqual({ status: 503, code: "UNAVAILABLE", retryAfterMs: 1000 });
    expect(gate.waiting()).toBe(2);
    expect(await (await fetch(`${gate.t.url}/metrics`)).text()).toMatch(/^rt_handshakes_in_flight 2$/m);
    gate.open();
    await eventually(() => held.every((s) => s.connected));
    // The places are given back: new handshakes go through again.
    expect((await connected(gate.t.url, token)).connected).toBe(true);
    const metrics = await (await fetch(`${gate.t.url}/metrics`)).text();
    expect(metrics).toContain('rt_handshakes_refused_total{code="UNAVAILABLE"} 1');
  });

  it("answers /ready 503 saturated while every place is taken, and ready again once one is free", async () => {
    const gate = await gatedApp(1);
    expect((await ready(gate.t.url)).status).toBe(200);
    const held = connectClient(gate.t.url, await tokenFor("slow"));
    await eventually(() => gate.waiting() === 1);
    expect(await ready(gate.t.url)).toMatchObject({
      status: 503,
      body: { status: "not_ready", reason: "saturated" },
    });
    gate.open();
    await eventually(() => held.connected);
    expect((await ready(gate.t.url)).status).toBe(200);
  });

  it("a refused SDK client comes back by itself after the retry hint and its jitter", async () => {
    const gate = await gatedApp(1);
    const held = connectClient(gate.t.url, await tokenFor("first"));
    await eventually(() => gate.waiting() === 1);
    gate.resetArrivals();
    const client = sdkClient(gate.t.url, "second", { reconnectDelayMs: 200, reconnectDelayMaxMs: 400 });
    const statuses = recordSdk(client, "status");
    await eventually(() => statuses.some((s) => s.error?.code === "UNAVAILABLE"));
    const refusedAt = Date.now();
    const refusal = statuses.find((s) => s.error?.code === "UNAVAILABLE");
    expect(refusal?.error?.retryAfterMs).toBe(1000);
    gate.open();
    await eventually(() => held.connected);
    await eventually(() => client.status === "connected", 5000);
    // Its next handshake waited for the hint (1000 ms) plus at least half the first backoff step.
    const next = gate.arrivals().find((at) => at >= refusedAt);
    expect(next).toBeDefined();
    expect((next as number) - refusedAt).toBeGreaterThanOrEqual(1000 + 100 - 50);
  });

  it("refuses handshakes once the instance holds MAX_CONNECTIONS_PER_INSTANCE, says full on /ready, and takes them again when one leaves", async () => {
    const t = await startApp({ MAX_CONNECTIONS_PER_INSTANCE: "2" });
    apps.push(t);
    const first = await connected(t.url, await tokenFor("one"));
    await connected(t.url, await tokenFor("two"));
    const err = await connectError(t.url, await tokenFor("three"));
    expect(err.data).toEqual({ status: 503, code: "UNAVAILABLE", retryAfterMs: 1000 });
    expect(await ready(t.url)).toMatchObject({ status: 503, body: { status: "not_ready", reason: "full" } });
    first.disconnect();
    await eventually(async () => (await ready(t.url)).status === 200);
    expect((await connected(t.url, await tokenFor("three"))).connected).toBe(true);
  });
});

describe("the connection capacity an instance derives from its open-file limit", () => {
  it("is the soft limit of /proc/self/limits less the reserve, unless configured", async () => {
    const dir = mkdtempSync(join(tmpdir(), "limits-"));
    const file = join(dir, "limits");
    writeFileSync(
      file,
      [
        "Limit                     Soft Limit           Hard Limit           Units     ",
        "Max open files            20000                40000                files     ",
      ].join("\n"),
    );
    expect(openFileLimit(file)).toBe(20_000);
    expect(connectionCapacity(0, openFileLimit(file))).toBe(20_000 - FD_RESERVE);
    expect(connectionCapacity(5000, openFileLimit(file))).toBe(5000);
    expect(openFileLimit(join(dir, "missing"))).toBeUndefined();
    expect(connectionCapacity(0, undefined)).toBe(Number.POSITIVE_INFINITY);
  });
});
