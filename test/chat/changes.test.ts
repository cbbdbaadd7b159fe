import { describe, expect, it } from "vitest";
import type { Message } from "../../src/protocol/index.js";
import { eventually, ok, record, request, sleep } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { type ChatTestApp, startChatApp, uniquePrefix, user } from "./support.js";

/**
 * Edits, deletes, reactions and replies: entries of the room's log, relayed, recovered and
 * paged like messages. Two instances (A and B) over one private Redis.
 */

const fixture = usePrivateRedis<ChatTestApp>();

async function twoInstances(env: Record<string, string> = {}): Promise<[ChatTestApp, ChatTestApp]> {
  const shared = { REDIS_URL: fixture.redis.url, REDIS_KEY_PREFIX: uniquePrefix("changes"), ...env };
  const started = await Promise.all([startChatApp(shared), startChatApp(shared)]);
  fixture.apps.push(...started);
  return started as [ChatTestApp, ChatTestApp];
}

const room = "team:core";

describe("chat edits, deletes and reactions", () => {
  it("relays every change to members on both instances in log order, and history shows the result", async () => {
    const [a, b] = await twoInstances();
    const alice = await user(a, "alice");
    const bob = await user(b, "bob");
    await ok(alice, "chat:join", { roomId: room });
    await ok(bob, "chat:join", { roomId: room });
    const onA = record(alice, "chat:message");
    const onB = record(bob, "chat:message");

    const m1 = await ok(alice, "chat:send", { roomId: room, text: "helo" });
    const m2 = await ok(alice, "chat:send", { roomId: room, text: "second" });
    const edit = await ok(alice, "chat:edit", { roomId: room, messageId: m1.id, text: "hello" });
    const like = await ok(bob, "chat:react", { roomId: room, messageId: m1.id, emoji: "👍", on: true });
    const party = await ok(alice, "chat:react", {
      roomId: room,
      messageId: m1.id,
      emoji: ":tada:",
      on: true,
    });
    const del = await ok(alice, "chat:delete", { roomId: room, messageId: m2.id });

    expect(edit.entry).toMatchObject({
      seq: 3,
      kind: "edit",
      target: m1.id,
      text: "hello",
      senderId: "alice",
    });
    expect(edit.message).toMatchObject({ id: m1.id, text: "hello", rev: 3, editedAt: expect.any(Number) });
    expect(like.message.reactions).toEqual([{ emoji: "👍", count: 1, users: ["bob"] }]);
    expect(del.message).toMatchObject({ id: m2.id, deleted: true, text: "" });

    const entries = [m1, m2, edit.entry, like.entry, party.entry, del.entry] as Message[];
    await eventually(() => onA.length === 6 && onB.length === 6);
    await sleep(100);
    expect(onA).toEqual(entries);
    expect(onB).toEqual(entries);

    const history = await ok(bob, "chat:history", { roomId: room });
    expect(history.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(history.messages[0]).toMatchObject({
      text: "hello",
      rev: 5,
      reactions: [
        { emoji: "👍", count: 1, users: ["bob"] },
        { emoji: ":tada:", count: 1, users: ["alice"] },
      ],
    });
    expect(history.messages[1]).toMatchObject({ text: "", deleted: true, rev: 6 });
  });

  it("recovers, on another instance, the edit, the delete and the reactions missed while disconnected", async () => {
    const [a, b] = await twoInstances();
    const alice = await user(a, "alice");
    await ok(alice, "chat:join", { roomId: room });
    const bob = await user(b, "bob");
    const joined = await ok(bob, "chat:join", { roomId: room });
    const seen = record(bob, "chat:message");
    const m1 = await ok(alice, "chat:send", { roomId: room, text: "one" });
    const m2 = await ok(alice, "chat:send", { roomId: room, text: "two" });
    await eventually(() => seen.length === 2);
    bob.disconnect();

    const missed = [
      (await ok(alice, "chat:edit", { roomId: room, messageId: m1.id, text: "one, edited" })).entry,
      (await ok(alice, "chat:delete", { roomId: room, messageId: m2.id })).entry,
      (await ok(alice, "chat:react", { roomId: room, messageId: m1.id, emoji: "❤️", on: true })).entry,
      (await ok(alice, "chat:react", { roomId: room, messageId: m1.id, emoji: "🇰🇷", on: true })).entry,
    ] as Message[];

    const bobAgain = await user(a, "bob");
    const rejoined = await ok(bobAgain, "chat:join", { roomId: room, sinceSeq: 2, epoch: joined.epoch });
    expect(rejoined.recovered).toBe(true);
    expect(rejoined.messages.map((m) => [m.seq, m.kind, m.target])).toEqual(
      missed.map((m) => [m.seq, m.kind, m.target]),
    );
    // The delete's tombstone reaches the recovered edit of m2 too: nothing of it stays readable.
    expect(rejoined.messages[1]).toMatchObject({ kind: "delete", target: m2.id, text: "" });
    // A fresh join shows the folded state of every message.
    const fresh = await ok(await user(b, "carol"), "chat:join", { roomId: room });
    expect(fresh.messages[0]).toMatchObject({
      text: "one, edited",
      reactions: [
        { emoji: "❤️", count: 1 },
        { emoji: "🇰🇷", count: 1 },
      ],
    });
    expect(fresh.messages[1]).toMatchObject({ deleted: true, text: "" });
    // Changes are not unread messages.
    expect(rejoined.unread).toBe(2);
  });

  it("lets only the sender or an admin edit or delete, and edits only within the window", async () => {
    const [a] = await twoInstances({ CHAT_EDIT_WINDOW_SEC: "1" });
    const alice = await user(a, "alice");
    const bob = await user(a, "bob");
    const admin = await user(a, "root", { roles: ["admin"] });
    await ok(alice, "chat:join", { roomId: room });
    const m = await ok(alice, "chat:send", { roomId: room, text: "mine" });
    const byBob = await request(bob, "chat:edit", { roomId: room, messageId: m.id, text: "bob's" });
    expect(byBob).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    expect(await request(bob, "chat:delete", { roomId: room, messageId: m.id })).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN", message: "only the sender or an admin may delete a message" },
    });
    await ok(admin, "chat:edit", { roomId: room, messageId: m.id, text: "moderated" });
    await sleep(1100);
    expect(await request(alice, "chat:edit", { roomId: room, messageId: m.id, text: "late" })).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN", message: "a message can be edited for 1 s after it was sent" },
    });
    // Deletes have no window.
    expect((await ok(alice, "chat:delete", { roomId: room, messageId: m.id })).message.deleted).toBe(true);
    // Others still react to messages they did not send.
    const m2 = await ok(alice, "chat:send", { roomId: room, text: "react to me" });
    expect(
      (await ok(bob, "chat:react", { roomId: room, messageId: m2.id, emoji: "👍", on: true })).entry,
    ).not.toBeNull();
  });

  it("answers clear errors for a missing target, another room's message, a deleted one and bad emoji", async () => {
    const [a] = await twoInstances({
      CHAT_HISTORY_LIMIT: "10",
      RATE_CHAT_SEND_PER_SEC: "100000",
      RATE_CHAT_SEND_BURST: "100000",
    });
    const alice = await user(a, "alice");
    await ok(alice, "chat:join", { roomId: room });
    await ok(alice, "chat:join", { roomId: "team:other" });
    const elsewhere = await ok(alice, "chat:send", { roomId: "team:other", text: "other room" });
    await sleep(5);
    const first = await ok(alice, "chat:send", { roomId: room, text: "first" });
    const refusal = async (p: ReturnType<typeof request>) => {
      const res = await p;
      return res.ok ? "ok" : `${res.error.code}: ${res.error.message}`;
    };
    expect(
      await refusal(request(alice, "chat:edit", { roomId: room, messageId: elsewhere.id, text: "x" })),
    ).toBe("NOT_FOUND: no such message in this room");
    expect(await refusal(request(alice, "chat:delete", { roomId: room, messageId: "1-999" }))).toBe(
      "NOT_FOUND: no such message in this room",
    );
    for (let i = 0; i < 400; i++) await ok(alice, "chat:send", { roomId: room, text: `fill ${i}` });
    expect(
      await refusal(
        request(alice, "chat:react", { roomId: room, messageId: first.id, emoji: "👍", on: true }),
      ),
    ).toBe("NOT_FOUND: the message is no longer in the room's retained history");
    const last = await ok(alice, "chat:send", { roomId: room, text: "last" });
    await ok(alice, "chat:delete", { roomId: room, messageId: last.id });
    expect(await refusal(request(alice, "chat:edit", { roomId: room, messageId: last.id, text: "x" }))).toBe(
      "NOT_FOUND: the message was deleted",
    );
    const alive = await ok(alice, "chat:send", { roomId: room, text: "alive" });
    for (const emoji of ["ab", "👍👍", ":Bad Name:", "a", ""]) {
      const res = await request(alice, "chat:react", { roomId: room, messageId: alive.id, emoji, on: true });
      expect(res).toMatchObject({ ok: false, error: { code: "INVALID_PAYLOAD" } });
    }
    for (const emoji of ["👍🏽", "👨‍👩‍👧", "1️⃣", ":+1:"]) {
      await ok(alice, "chat:react", { roomId: room, messageId: alive.id, emoji, on: true });
    }
  }, 30_000);

  it("answers a retried change with the same clientMsgId with the original entry, appending nothing", async () => {
    const [a, b] = await twoInstances();
    const alice = await user(a, "alice");
    const aliceOnB = await user(b, "alice");
    await ok(alice, "chat:join", { roomId: room });
    const m = await ok(alice, "chat:send", { roomId: room, text: "typo" });
    const payload = { roomId: room, messageId: m.id, text: "fixed", clientMsgId: "edit-1" };
    const first = await ok(alice, "chat:edit", payload);
    const retry = await ok(aliceOnB, "chat:edit", payload);
    expect(retry.entry).toEqual(first.entry);
    const again = await ok(alice, "chat:react", { roomId: room, messageId: m.id, emoji: "👍", on: true });
    const repeat = await ok(alice, "chat:react", { roomId: room, messageId: m.id, emoji: "👍", on: true });
    expect(again.entry).not.toBeNull();
    expect(repeat.entry).toBeNull();
    expect((await ok(alice, "chat:history", { roomId: room })).messages.map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it("limits edits and deletes, and reactions, per user", async () => {
    const [a] = await twoInstances({ RATE_CHAT_EDIT_PER_SEC: "2", RATE_CHAT_REACT_PER_SEC: "2" });
    const alice = await user(a, "alice");
    await ok(alice, "chat:join", { roomId: room });
    const m = await ok(alice, "chat:send", { roomId: room, text: "x" });
    const edits = [];
    for (let i = 0; i < 3; i++)
      edits.push(await request(alice, "chat:edit", { roomId: room, messageId: m.id, text: `v${i}` }));
    expect(edits.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["ok", "ok", "RATE_LIMITED"]);
    const reactions = [];
    for (const emoji of ["👍", "🎉", "❤️"]) {
      reactions.push(await request(alice, "chat:react", { roomId: room, messageId: m.id, emoji, on: true }));
    }
    expect(reactions.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["ok", "ok", "RATE_LIMITED"]);
  });
});

describe("chat replies", () => {
  it("sends a reply to a message of the same room, and refuses one to a message that is not there", async () => {
    const [a, b] = await twoInstances();
    const alice = await user(a, "alice");
    const bob = await user(b, "bob");
    await ok(alice, "chat:join", { roomId: room });
    await ok(bob, "chat:join", { roomId: room });
    const seen = record(alice, "chat:message");
    const question = await ok(alice, "chat:send", { roomId: room, text: "lunch?" });
    const answer = await ok(bob, "chat:send", { roomId: room, text: "yes", replyTo: question.id });
    expect(answer.replyTo).toBe(question.id);
    await eventually(() => seen.length >= 2);
    expect(seen).toEqual([question, answer]);
    expect((await ok(alice, "chat:history", { roomId: room })).messages[1]).toEqual(answer);
    const missing = await request(bob, "chat:send", { roomId: room, text: "to nothing", replyTo: "1-77" });
    expect(missing).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    const bad = await request(bob, "chat:send", { roomId: room, text: "bad", replyTo: "nope" });
    expect(bad).toMatchObject({ ok: false, error: { code: "INVALID_PAYLOAD" } });
  });
});
