import { afterEach, describe, expect, it } from "vitest";
import { MAX_SUBSCRIPTIONS_PER_SOCKET } from "../../src/presence/handlers.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, eventually, ok, record, request, sleep } from "../helpers/client.js";
import { connectAs } from "./support.js";

const GRACE = 300;
let app: TestApp | undefined;

afterEach(async () => {
  closeAllClients();
  await app?.close();
  app = undefined;
});

/** One instance without REDIS_URL: the in-memory store. */
async function start(env: Record<string, string> = {}): Promise<TestApp> {
  app = await startApp({ PRESENCE_GRACE_MS: String(GRACE), PRESENCE_TTL_MS: "900", ...env });
  return app;
}

const as = connectAs;

describe("presence events on one instance without Redis", () => {
  it("answers presence:set with the user's state, which any other user can read", async () => {
    const t = await start();
    const rita = await as(t, "rita");
    const other = await as(t, "sam");
    const state = await ok(rita, "presence:set", { status: "busy", text: "focus time" });
    expect(state).toEqual({
      userId: "rita",
      status: "busy",
      text: "focus time",
      lastSeen: expect.any(Number),
      devices: 1,
    });
    expect(await ok(other, "presence:query", { userIds: ["rita", "rita", "nobody"] })).toEqual([
      state,
      { userId: "nobody", status: "offline", lastSeen: 0, devices: 0 },
    ]);
  });

  it("takes a user offline after the grace, and a reload inside the grace makes no event", async () => {
    const t = await start();
    const watcher = await as(t, "watcher");
    const seen = record(watcher, "presence:changed");
    await ok(watcher, "presence:subscribe", { userIds: ["tom"] });

    const first = await as(t, "tom");
    await eventually(() => seen.length === 1);
    first.disconnect();
    const reloaded = await as(t, "tom");
    await sleep(GRACE + 400);
    expect(seen.map((s) => s.status)).toEqual(["online"]);

    reloaded.disconnect();
    await eventually(() => seen.length === 2, 3000);
    expect(seen[1]).toMatchObject({ userId: "tom", status: "offline", devices: 0 });
  });

  it("rejects bad payloads with INVALID_PAYLOAD naming the field", async () => {
    const t = await start();
    const s = await as(t, "uma");
    const cases: [Parameters<typeof request>[1], unknown, string][] = [
      ["presence:set", { status: "offline" }, "status"],
      ["presence:set", { status: "away", text: "x".repeat(141) }, "text"],
      ["presence:set", { status: "away", text: 42 }, "text"],
      ["presence:subscribe", { userIds: [] }, "userIds"],
      ["presence:subscribe", { userIds: Array.from({ length: 501 }, (_, i) => `u${i}`) }, "userIds"],
      ["presence:query", { userIds: ["no spaces"] }, "userIds.0"],
      ["presence:unsubscribe", { userIds: "alice" }, "userIds"],
      ["presence:query", undefined, "(root)"],
    ];
    for (const [event, payload, field] of cases) {
      // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed payloads
      const res = await request(s, event, payload as any);
      expect(res.ok, `${event} ${JSON.stringify(payload)?.slice(0, 60)}`).toBe(false);
      if (res.ok) continue;
      expect(res.error.code).toBe("INVALID_PAYLOAD");
      expect(res.error.fields?.map((f) => f.path)).toContain(field);
    }
    expect(await ok(s, "presence:set", { status: "away", text: "x".repeat(140) })).toMatchObject({
      status: "away",
    });
  });

  it("rate-limits presence:set per user across their connections, without touching other users", async () => {
    const t = await start({ RATE_PRESENCE_SET_PER_SEC: "2" });
    const laptop = await as(t, "vic");
    const phone = await as(t, "vic");
    const other = await as(t, "wes");
    await ok(laptop, "presence:set", { status: "away" });
    await ok(phone, "presence:set", { status: "busy" });
    const limited = await request(laptop, "presence:set", { status: "online" });
    expect(limited).toMatchObject({ ok: false, error: { code: "RATE_LIMITED" } });
    if (!limited.ok) expect(limited.error.retryAfterMs).toBeGreaterThan(0);
    await ok(other, "presence:set", { status: "away" });
  });

  it("rate-limits presence:subscribe and presence:query per user", async () => {
    const t = await start({ RATE_PRESENCE_SUBSCRIBE_PER_SEC: "1" });
    const s = await as(t, "xia");
    await ok(s, "presence:subscribe", { userIds: ["a"] });
    expect(await request(s, "presence:subscribe", { userIds: ["b"] })).toMatchObject({
      ok: false,
      error: { code: "RATE_LIMITED" },
    });
    await ok(s, "presence:query", { userIds: ["a"] });
    expect(await request(s, "presence:query", { userIds: ["a"] })).toMatchObject({
      ok: false,
      error: { code: "RATE_LIMITED" },
    });
  });

  it("caps the presence subscriptions of one connection, counting each user once", async () => {
    const t = await start({ RATE_PRESENCE_SUBSCRIBE_PER_SEC: "100" });
    const s = await as(t, "yan");
    const ids = (from: number) => Array.from({ length: 500 }, (_, i) => `u${from + i}`);
    for (let from = 0; from < MAX_SUBSCRIPTIONS_PER_SOCKET; from += 500) {
      expect(await ok(s, "presence:subscribe", { userIds: ids(from) })).toHaveLength(500);
    }
    const over = await request(s, "presence:subscribe", { userIds: ["u0", "one-more"] });
    expect(over).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    // Users already watched do not count again.
    await ok(s, "presence:subscribe", { userIds: ["u0", "u1"] });
    await ok(s, "presence:unsubscribe", { userIds: ["u0"] });
    await ok(s, "presence:subscribe", { userIds: ["one-more"] });
  });
});
