import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ACK_DEADLINE_MS } from "../../src/infra/event-router.js";
import type { Feature } from "../../src/infra/feature.js";
import { AppError } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, nextEvent, record, request } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * A feature made for this test: real server, real client, handlers that misbehave on
 * purpose, to show that the pipeline contains every failure.
 */
/** limit 6 waits until the test lets it finish (a handler stuck on a hung dependency). */
let releaseStuck: () => void = () => {};

function misbehavingFeature(): Feature {
  return {
    name: "misbehaving",
    register(router) {
      // The contract's schema for notification:list: limit 1..100, every key optional.
      router.on("notification:list", {
        async handle({ limit = 1 }) {
          if (limit === 3) throw new AppError("NOT_FOUND", "nothing here");
          if (limit === 4) throw new Error("a bug with a secret stack");
          if (limit === 5) return Promise.reject(new TypeError("async bug"));
          if (limit === 6) await new Promise<void>((resolve) => (releaseStuck = resolve));
          return { items: [], unreadCount: limit, hasMore: false };
        },
      });
    },
  };
}

describe("the event pipeline", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp({ LOG_LEVEL: "debug" }, () => [misbehavingFeature()]);
  });
  afterEach(() => closeAllClients());
  afterAll(async () => {
    await t.close();
  });

  it("answers ok with data", async () => {
    const socket = await connected(t.url, await tokenFor("u1"));
    expect(await request(socket, "notification:list", { limit: 2 })).toEqual({
      ok: true,
      data: { items: [], unreadCount: 2, hasMore: false },
    });
  });

  it("refuses a payload that fails the schema with INVALID_PAYLOAD and the failing fields", async () => {
    const socket = await connected(t.url, await tokenFor("u1"));
    const res = await request(socket, "notification:list", { limit: "ten" } as never);
    expect(res).toMatchObject({
      ok: false,
      error: { code: "INVALID_PAYLOAD", fields: [{ path: "limit", message: expect.any(String) }] },
    });
  });

  it("turns an AppError into its code", async () => {
    const socket = await connected(t.url, await tokenFor("u1"));
    expect(await request(socket, "notification:list", { limit: 3 })).toEqual({
      ok: false,
      error: { code: "NOT_FOUND", message: "nothing here" },
    });
  });

  it("turns an unexpected exception into INTERNAL, logs it once, and keeps serving", async () => {
    const socket = await connected(t.url, await tokenFor("u1"));
    for (const limit of [4, 5]) {
      const res = await request(socket, "notification:list", { limit });
      expect(res).toEqual({ ok: false, error: { code: "INTERNAL", message: "internal error" } });
      expect(JSON.stringify(res)).not.toMatch(/secret stack|async bug|at /);
    }
    const logged = t.logs.lines.filter((l) => l.msg === "handler failed");
    expect(logged).toHaveLength(2);
    expect(await request(socket, "notification:list", { limit: 1 })).toMatchObject({ ok: true });
  });

  it("answers UNAVAILABLE once a handler is past the ack deadline, and drops its late result", async () => {
    const socket = await connected(t.url, await tokenFor("u1"));
    const res = await request(socket, "notification:list", { limit: 6 }, ACK_DEADLINE_MS + 1500);
    expect(res).toEqual({
      ok: false,
      error: { code: "UNAVAILABLE", message: "no answer in time, try again" },
    });
    const late = record(socket, "server:error");
    releaseStuck();
    await eventually(() => t.logs.lines.some((l) => l.msg === "late result dropped" && l.level === "debug"));
    // Answered once: the late result reaches the client neither as an ack nor as an error.
    expect(await request(socket, "notification:list", { limit: 2 })).toMatchObject({ ok: true });
    expect(late).toEqual([]);
  });

  it("answers an unknown event with NOT_FOUND", async () => {
    const socket = await connected(t.url, await tokenFor("u1"));
    // biome-ignore lint/suspicious/noExplicitAny: an event outside the contract, on purpose
    const res = await (socket.timeout(2000) as any).emitWithAck("nope:nothing", {});
    expect(res).toEqual({ ok: false, error: { code: "NOT_FOUND", message: "unknown event" } });
  });

  it("reports a failed event sent without an ack as server:error", async () => {
    const socket = await connected(t.url, await tokenFor("u1"));
    const error = nextEvent(socket, "server:error");
    socket.emit("notification:list", { limit: 101 });
    expect(await error).toEqual({
      event: "notification:list",
      code: "INVALID_PAYLOAD",
      message: "invalid payload for notification:list",
    });
  });
});
