import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ClientEventName, Message } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { connected, eventually, ok, record, request, sleep, type TestSocket } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * Event floods: one user firing thousands of events from two devices on two instances is
 * refused with RATE_LIMITED (limits are per user, shared through Redis), and the other
 * users on the same instances keep getting every answer and every message.
 */

const ROOM = "team:core";
const PER_EVENT = 300;

const fixture = usePrivateRedis<TestApp>();

const flood: [ClientEventName, (i: number) => unknown][] = [
  ["chat:send", (i) => ({ roomId: ROOM, text: `flood ${i}` })],
  ["chat:typing", () => ({ roomId: ROOM, typing: true })],
  ["chat:history", () => ({ roomId: ROOM })],
  ["presence:set", (i) => ({ status: i % 2 ? "away" : "busy" })],
  ["presence:query", () => ({ userIds: ["alice", "bob"] })],
  ["notification:list", () => ({})],
];

describe("an event flood from one user", () => {
  it("refuses the flood with RATE_LIMITED on every instance while other users' events and messages all get through", async () => {
    const env = { REDIS_URL: fixture.redis.url, REDIS_KEY_PREFIX: `fl${randomBytes(4).toString("hex")}:` };
    fixture.apps.push(...(await Promise.all([startApp(env), startApp(env)])));
    const [a, b] = fixture.apps as [TestApp, TestApp];
    const as = async (app: TestApp, userId: string) =>
      connected(app.url, await tokenFor(userId, { rooms: ["team:*"] }));
    const floodA = await as(a, "mallory");
    const floodB = await as(b, "mallory");
    const alice = await as(a, "alice");
    const bob = await as(b, "bob");
    for (const s of [floodA, floodB, alice, bob]) await ok(s, "chat:join", { roomId: ROOM });
    const aliceSees = record(alice, "chat:message");
    const bobSees = record(bob, "chat:message");

    // Every flood event asks for an ack, from both devices at once, without waiting.
    const floodAnswers = flood.flatMap(([event, payload]) =>
      Array.from({ length: PER_EVENT }, (_, i) =>
        request(i % 2 ? floodB : floodA, event as "chat:send", payload(i) as never, 15_000).then((res) => ({
          event,
          code: res.ok ? "ok" : res.error.code,
          message: res.ok && event === "chat:send" ? (res.data as Message) : undefined,
        })),
      ),
    );

    // Meanwhile the others go on at a normal pace: every answer must be ok.
    const bystanders: Message[] = [];
    const bystanderCodes: string[] = [];
    for (let i = 0; i < 8; i++) {
      for (const [socket, who] of [
        [alice, "alice"],
        [bob, "bob"],
      ] as [TestSocket, string][]) {
        const sent = await request(socket, "chat:send", { roomId: ROOM, text: `${who} ${i}` });
        bystanderCodes.push(sent.ok ? "ok" : sent.error.code);
        if (sent.ok) bystanders.push(sent.data);
        const other = i % 2 ? "presence:set" : "notification:list";
        const res = await request(
          socket,
          other as "notification:list",
          (i % 2 ? { status: "online" } : {}) as never,
        );
        bystanderCodes.push(res.ok ? "ok" : res.error.code);
      }
      await sleep(60);
    }
    const answers = await Promise.all(floodAnswers);

    expect(bystanderCodes).toEqual(Array(bystanderCodes.length).fill("ok"));
    for (const [event] of flood) {
      const codes = answers.filter((r) => r.event === event).map((r) => r.code);
      // Every flood event was answered, with ok or RATE_LIMITED only, and most were refused.
      expect(codes).toHaveLength(PER_EVENT);
      expect(new Set(codes)).toEqual(new Set(["ok", "RATE_LIMITED"]));
      expect(codes.filter((c) => c === "RATE_LIMITED").length).toBeGreaterThan(PER_EVENT / 2);
    }

    // Each side saw exactly the messages that were acknowledged: the bystanders' and the
    // few flood messages let through, once each.
    const floodStored = answers.flatMap((r) => (r.message ? [r.message.id] : []));
    const expected = [...bystanders.map((m) => m.id), ...floodStored].sort();
    await eventually(() => aliceSees.length >= expected.length && bobSees.length >= expected.length);
    await sleep(100);
    expect(aliceSees.map((m) => m.id).sort()).toEqual(expected);
    expect(bobSees.map((m) => m.id).sort()).toEqual(expected);
    expect(floodA.connected && floodB.connected).toBe(true);
  });
});

describe("rate limits while Redis is down", () => {
  it("keeps limiting each user from the instance's own counters instead of letting floods through or refusing everyone", async () => {
    const env = {
      REDIS_URL: fixture.redis.url,
      REDIS_KEY_PREFIX: `fd${randomBytes(4).toString("hex")}:`,
      RATE_CHAT_TYPING_PER_SEC: "3",
    };
    const app = await startApp(env);
    fixture.apps.push(app);
    const mallory = await connected(app.url, await tokenFor("mallory", { rooms: ["team:*"] }));
    const alice = await connected(app.url, await tokenFor("alice", { rooms: ["team:*"] }));
    for (const s of [mallory, alice]) await ok(s, "chat:join", { roomId: ROOM });

    await fixture.redis.stop();
    try {
      // Typing needs no store: only the limiter decides, from memory now.
      const codes: string[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await request(mallory, "chat:typing", { roomId: ROOM, typing: true });
        codes.push(res.ok ? "ok" : res.error.code);
      }
      expect(codes).toEqual(["ok", "ok", "ok", "RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED"]);
      const other = await request(alice, "chat:typing", { roomId: ROOM, typing: true });
      expect(other.ok).toBe(true);
    } finally {
      await fixture.redis.start();
    }
  });
});
