import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createEventRouter } from "../../src/infra/event-router.js";
import { createLogger } from "../../src/infra/logger.js";
import { CLIENT_EVENT_NAMES, type ClientEventName, clientEvents } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * The contract (`clientEvents`) and the handlers the app registers are the same set: every
 * event of the map reaches a handler of its own, and the router takes no handler for an
 * event outside the map, nor a second one for an event.
 */

describe("the events the built app handles", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp();
  });
  afterEach(() => closeAllClients());
  afterAll(async () => {
    await t?.close();
  });

  it("answers every event of the contract through its handler's schema, counted under the event's own label", async () => {
    const socket = await connected(t.url, await tokenFor("contract-user"));
    const answers: Record<string, unknown> = {};
    for (const event of CLIENT_EVENT_NAMES) {
      // No event's schema takes a string: a routed event refuses it, an unrouted one is NOT_FOUND.
      // biome-ignore lint/suspicious/noExplicitAny: a payload outside every schema, on purpose
      const res = await (socket.timeout(5000) as any).emitWithAck(event, "not a payload");
      answers[event] = res.ok ? "ok" : res.error.code;
    }
    expect(answers).toEqual(Object.fromEntries(CLIENT_EVENT_NAMES.map((e) => [e, "INVALID_PAYLOAD"])));
    const text = await (await fetch(`${t.url}/metrics`)).text();
    for (const event of CLIENT_EVENT_NAMES) {
      expect(text).toContain(`rt_events_total{event="${event}",outcome="INVALID_PAYLOAD"}`);
    }
  });

  it("lists every key of the map as an event name, in the map's order", () => {
    expect(CLIENT_EVENT_NAMES).toEqual(Object.keys(clientEvents));
  });
});

describe("the event router", () => {
  const router = () =>
    createEventRouter({ logger: createLogger({ level: "silent", instanceId: "contract" }) });

  it("refuses a second handler for an event", () => {
    const r = router();
    r.on("chat:leave", { handle: ({ roomId }) => ({ roomId }) });
    expect(() => r.on("chat:leave", { handle: ({ roomId }) => ({ roomId }) })).toThrow(
      "handler for chat:leave registered twice",
    );
  });

  it("refuses a handler for an event outside the contract", () => {
    const outside = "chat:unknown" as ClientEventName;
    expect(() => router().on(outside, { handle: () => ({}) as never })).toThrow(
      "chat:unknown is not an event of the contract",
    );
    // Keys an object inherits are not events either.
    expect(() => router().on("toString" as ClientEventName, { handle: () => ({}) as never })).toThrow(
      "toString is not an event of the contract",
    );
  });
});
