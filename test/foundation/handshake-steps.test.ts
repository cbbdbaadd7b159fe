import { afterEach, describe, expect, it } from "vitest";
import type { FeaturesFactory } from "../../src/app.js";
import type { HandshakePhase, HandshakeStep } from "../../src/infra/handshake.js";
import { AppError, userRoom } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connectError, connected, eventually } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * Features contribute handshake steps; the app runs them by phase (address, authenticate,
 * admit, join), started in the features' order within a phase, after the auth feature's
 * own, and the steps of one phase together (one Redis round trip for all of them).
 */
const apps: TestApp[] = [];
afterEach(async () => {
  closeAllClients();
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function start(features: FeaturesFactory): Promise<TestApp> {
  const app = await startApp({}, features);
  apps.push(app);
  return app;
}

/** A step that writes down its phase, the socket's user by then and whether it is in the user's room. */
function recorder(seen: string[], feature: string, phase: HandshakePhase): HandshakeStep {
  return {
    phase,
    async run(socket) {
      const user = socket.data.user?.id ?? "nobody";
      seen.push(`${feature} ${phase}: ${user}, in user room: ${socket.rooms.has(userRoom(user))}`);
    },
  };
}

describe("handshake steps", () => {
  it("run by phase whatever the order in which the features list them, in the features' order within a phase", async () => {
    const seen: string[] = [];
    const t = await start(() => [
      {
        name: "late",
        handshake: [
          recorder(seen, "late", "join"),
          recorder(seen, "late", "admit"),
          recorder(seen, "late", "address"),
        ],
      },
      { name: "early", handshake: [recorder(seen, "early", "admit"), recorder(seen, "early", "address")] },
    ]);
    await connected(t.url, await tokenFor("alice"));
    expect(seen).toEqual([
      "late address: nobody, in user room: false",
      "early address: nobody, in user room: false",
      // The auth feature's admit steps started first: the user room is joined by then.
      "late admit: alice, in user room: true",
      "early admit: alice, in user room: true",
      "late join: alice, in user room: true",
    ]);
  });

  it("of one phase run together: each one starts before the others have finished", async () => {
    const started: string[] = [];
    let bothStarted: () => void = () => {};
    const together = new Promise<void>((resolve) => {
      bothStarted = resolve;
    });
    const waitsForTheOther = (name: string): HandshakeStep => ({
      phase: "admit",
      async run() {
        started.push(name);
        if (started.length === 2) bothStarted();
        // Run one after the other, the first would wait here for ever (and the handshake time out).
        await together;
      },
    });
    const t = await start(() => [
      { name: "one", handshake: [waitsForTheOther("one")] },
      { name: "two", handshake: [waitsForTheOther("two")] },
    ]);
    expect((await connected(t.url, await tokenFor("alice"))).connected).toBe(true);
    expect(started).toEqual(["one", "two"]);
  });

  it("of one phase that succeeded give back what they recorded when another of the phase refuses", async () => {
    const recorded = new Set<string>();
    const t = await start(() => [
      {
        name: "counter",
        handshake: [
          {
            phase: "admit",
            async run(socket) {
              recorded.add(socket.id);
            },
            abandon(socket) {
              recorded.delete(socket.id);
            },
          },
        ],
      },
      {
        name: "bouncer",
        handshake: [
          {
            phase: "admit",
            async run() {
              throw new AppError("FORBIDDEN", "not today");
            },
          },
        ],
      },
    ]);
    const err = await connectError(t.url, await tokenFor("alice"));
    expect(err.data).toEqual({ status: 403, code: "FORBIDDEN" });
    await eventually(() => recorded.size === 0);
  });

  it("refuse with the step's code and give back what the earlier steps recorded", async () => {
    const recorded = new Set<string>();
    const t = await start(() => [
      {
        name: "counter",
        handshake: [
          {
            phase: "admit",
            async run(socket) {
              recorded.add(socket.id);
            },
            abandon(socket) {
              recorded.delete(socket.id);
            },
          },
        ],
      },
      {
        name: "bouncer",
        handshake: [
          {
            phase: "join",
            async run() {
              throw new AppError("FORBIDDEN", "not today");
            },
          },
        ],
      },
    ]);
    const err = await connectError(t.url, await tokenFor("alice"));
    expect(err.message).toBe("connection refused");
    expect(err.data).toEqual({ status: 403, code: "FORBIDDEN" });
    await eventually(() => recorded.size === 0);
    expect(t.app.io.of("/").sockets.size).toBe(0);
  });
});
