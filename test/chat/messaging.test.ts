import { describe, expect, it } from "vitest";
import type { Message } from "../../src/protocol/index.js";
import { eventually, nextEvent, ok, record, request, sleep } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { type ChatTestApp, startChatApp, uniquePrefix, user } from "./support.js";

/** Two instances (A and B) over one private Redis, a fresh key prefix per test. */

const fixture = usePrivateRedis<ChatTestApp>();

async function twoInstances(env: Record<string, string> = {}): Promise<[ChatTestApp, ChatTestApp]> {
  const shared = { REDIS_URL: fixture.redis.url, REDIS_KEY_PREFIX: uniquePrefix("chat"), ...env };
  const started = await Promise.all([startChatApp(shared), startChatApp(shared)]);
  fixture.apps.push(...started);
  return started as [ChatTestApp, ChatTestApp];
}

describe("chat messages across instances", () => {
  it("delivers a message sent on A to members on A and B exactly once and in order, the sender's other devices too", async () => {
    const [a, b] = await twoInstances();
    const aliceOnA = await user(a, "alice", { name: "Alice", rooms: ["team:*"] });
    const aliceOnB = await user(b, "alice", { name: "Alice", rooms: ["team:*"] });
    const bobOnB = await user(b, "bob");
    const carolOnA = await user(a, "carol");
    const everyone = [aliceOnA, aliceOnB, bobOnB, carolOnA];
    for (const s of everyone) await ok(s, "chat:join", { roomId: "team:core" });
    const seen = everyone.map((s) => record(s, "chat:message"));

    const acks: Message[] = [];
    for (let i = 0; i < 15; i++)
      acks.push(await ok(aliceOnA, "chat:send", { roomId: "team:core", text: `m${i}` }));

    await eventually(() => seen.every((list) => list.length >= 15));
    await sleep(100); // anything extra (a duplicate) would arrive by now
    for (const list of seen) expect(list).toEqual(acks);
    expect(acks.map((m) => m.text)).toEqual(Array.from({ length: 15 }, (_, i) => `m${i}`));
    expect(acks[0]).toMatchObject({ roomId: "team:core", senderId: "alice", senderName: "Alice" });
    expect(typeof acks[0]?.createdAt).toBe("number");
  });

  it("acks a message only once it is in the history every instance serves", async () => {
    const [a, b] = await twoInstances();
    const alice = await user(a, "alice");
    const bob = await user(b, "bob");
    await ok(alice, "chat:join", { roomId: "team:core" });
    const sent = await ok(alice, "chat:send", { roomId: "team:core", text: "persisted first" });
    const history = await ok(bob, "chat:history", { roomId: "team:core" });
    expect(history.messages).toEqual([sent]);
    const joined = await ok(bob, "chat:join", { roomId: "team:core" });
    expect(joined.messages).toEqual([sent]);
  });

  it("takes senderId from the token, never from the payload, and keeps text as plain trimmed text", async () => {
    const [a] = await twoInstances();
    const mallory = await user(a, "mallory");
    await ok(mallory, "chat:join", { roomId: "team:core" });
    const payload = { roomId: "team:core", text: "  <script>alert(1)</script>  ", senderId: "alice" };
    const sent = await ok(mallory, "chat:send", payload as { roomId: string; text: string });
    expect(sent.senderId).toBe("mallory");
    expect(sent.text).toBe("<script>alert(1)</script>");
  });

  it("recovers exactly the messages missed while disconnected, with since, on another instance", async () => {
    const [a, b] = await twoInstances();
    const alice = await user(a, "alice");
    await ok(alice, "chat:join", { roomId: "team:core" });
    const bob = await user(b, "bob");
    await ok(bob, "chat:join", { roomId: "team:core" });
    const before: Message[] = [];
    for (let i = 0; i < 3; i++)
      before.push(await ok(alice, "chat:send", { roomId: "team:core", text: `seen${i}` }));
    await eventually(
      async () => (await ok(bob, "chat:history", { roomId: "team:core" })).messages.length === 3,
    );
    const lastSeen = before[2]?.id as string;
    bob.disconnect();

    const missed: Message[] = [];
    for (let i = 0; i < 5; i++)
      missed.push(await ok(alice, "chat:send", { roomId: "team:core", text: `missed${i}` }));

    const bobAgain = await user(a, "bob");
    const live = record(bobAgain, "chat:message");
    const joined = await ok(bobAgain, "chat:join", { roomId: "team:core", since: lastSeen });
    expect(joined.recovered).toBe(true);
    expect(joined.hasMore).toBe(false);
    expect(joined.messages).toEqual(missed);

    const after = await ok(alice, "chat:send", { roomId: "team:core", text: "live again" });
    await eventually(() => live.length === 1);
    expect(live).toEqual([after]);
  });

  it("pages a long recovery: up to 200 messages with hasMore, the rest through history", async () => {
    const [a] = await twoInstances({ RATE_CHAT_SEND_PER_SEC: "100000", RATE_CHAT_SEND_BURST: "100000" });
    const alice = await user(a, "alice");
    await ok(alice, "chat:join", { roomId: "team:core" });
    const cursor = await ok(alice, "chat:send", { roomId: "team:core", text: "cursor" });
    const ids: string[] = [];
    for (let i = 0; i < 205; i++)
      ids.push((await ok(alice, "chat:send", { roomId: "team:core", text: `n${i}` })).id);
    const bob = await user(a, "bob");
    const joined = await ok(bob, "chat:join", { roomId: "team:core", since: cursor.id });
    expect(joined.recovered).toBe(true);
    expect(joined.messages.map((m) => m.id)).toEqual(ids.slice(0, 200));
    expect(joined.hasMore).toBe(true);
    const rest = await ok(bob, "chat:history", {
      roomId: "team:core",
      after: ids[199] as string,
      limit: 100,
    });
    expect(rest.messages.map((m) => m.id)).toEqual(ids.slice(200));
    expect(rest.hasMore).toBe(false);
  });

  it("answers recovered:false with the latest messages when since was trimmed or never existed", async () => {
    const [a] = await twoInstances({
      CHAT_HISTORY_LIMIT: "10",
      RATE_CHAT_SEND_PER_SEC: "100000",
      RATE_CHAT_SEND_BURST: "100000",
    });
    const alice = await user(a, "alice");
    await ok(alice, "chat:join", { roomId: "team:core" });
    const first = await ok(alice, "chat:send", { roomId: "team:core", text: "soon trimmed" });
    let last: Message | undefined;
    for (let i = 0; i < 300; i++) last = await ok(alice, "chat:send", { roomId: "team:core", text: `x${i}` });

    const bob = await user(a, "bob");
    const trimmed = await ok(bob, "chat:join", { roomId: "team:core", since: first.id });
    expect(trimmed.recovered).toBe(false);
    expect(trimmed.messages.length).toBeGreaterThanOrEqual(10);
    expect(trimmed.messages.length).toBeLessThanOrEqual(50);
    expect(trimmed.messages.at(-1)).toEqual(last);
    expect(trimmed.messages.some((m) => m.id === first.id)).toBe(false);

    const unknown = await ok(bob, "chat:join", { roomId: "team:core", since: "1-0" });
    expect(unknown.recovered).toBe(false);
    expect(unknown.messages.at(-1)).toEqual(last);
    const fresh = await ok(bob, "chat:join", { roomId: "team:core" });
    expect(fresh.recovered).toBeUndefined();
  });

  it("returns the original message for a repeated clientMsgId, from any device, and broadcasts it once", async () => {
    const [a, b] = await twoInstances();
    const aliceOnA = await user(a, "alice");
    const aliceOnB = await user(b, "alice");
    const bob = await user(b, "bob");
    for (const s of [aliceOnA, aliceOnB, bob]) await ok(s, "chat:join", { roomId: "team:core" });
    const bobSees = record(bob, "chat:message");

    const original = await ok(aliceOnA, "chat:send", {
      roomId: "team:core",
      text: "hi",
      clientMsgId: "c-42",
    });
    const retry = await ok(aliceOnA, "chat:send", { roomId: "team:core", text: "hi", clientMsgId: "c-42" });
    const fromOtherDevice = await ok(aliceOnB, "chat:send", {
      roomId: "team:core",
      text: "hi",
      clientMsgId: "c-42",
    });
    expect(retry).toEqual(original);
    expect(fromOtherDevice).toEqual(original);
    expect(original.clientMsgId).toBe("c-42");

    // Someone else may use the same clientMsgId: it is per sender.
    const bobs = await ok(bob, "chat:send", { roomId: "team:core", text: "mine", clientMsgId: "c-42" });
    expect(bobs.id).not.toBe(original.id);
    await eventually(() => bobSees.length >= 2);
    await sleep(100);
    expect(bobSees).toEqual([original, bobs]);
    const history = await ok(bob, "chat:history", { roomId: "team:core" });
    expect(history.messages).toEqual([original, bobs]);
  });

  it("serves history before and after a cursor, oldest first, with hasMore", async () => {
    const [a] = await twoInstances({ RATE_CHAT_SEND_PER_SEC: "100000", RATE_CHAT_SEND_BURST: "100000" });
    const alice = await user(a, "alice");
    await ok(alice, "chat:join", { roomId: "team:core" });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++)
      ids.push((await ok(alice, "chat:send", { roomId: "team:core", text: `h${i}` })).id);
    const older = await ok(alice, "chat:history", {
      roomId: "team:core",
      before: ids[5] as string,
      limit: 3,
    });
    expect(older.messages.map((m) => m.id)).toEqual(ids.slice(2, 5));
    expect(older.hasMore).toBe(true);
    const newer = await ok(alice, "chat:history", { roomId: "team:core", after: ids[5] as string, limit: 3 });
    expect(newer.messages.map((m) => m.id)).toEqual(ids.slice(6));
    expect(newer.hasMore).toBe(false);
    const joined = await ok(alice, "chat:join", { roomId: "team:core" });
    expect(joined.messages.map((m) => m.id)).toEqual(ids);
  });

  it("shows typing to the others in the room on every instance, not to the typist's devices, without storing it", async () => {
    const [a, b] = await twoInstances();
    const aliceOnA = await user(a, "alice");
    const aliceOnB = await user(b, "alice");
    const bob = await user(b, "bob");
    const outsider = await user(b, "olga");
    for (const s of [aliceOnA, aliceOnB, bob]) await ok(s, "chat:join", { roomId: "team:core" });
    const aliceSees = record(aliceOnB, "chat:typing");
    const outsiderSees = record(outsider, "chat:typing");

    const typing = nextEvent(bob, "chat:typing");
    expect(await ok(aliceOnA, "chat:typing", { roomId: "team:core", typing: true })).toEqual({
      roomId: "team:core",
    });
    expect(await typing).toEqual({ roomId: "team:core", userId: "alice", typing: true });
    await ok(bob, "chat:typing", { roomId: "team:core", typing: false });
    await eventually(() => aliceSees.length === 1);
    expect(aliceSees).toEqual([{ roomId: "team:core", userId: "bob", typing: false }]);
    expect(outsiderSees).toEqual([]);
    expect((await ok(bob, "chat:history", { roomId: "team:core" })).messages).toEqual([]);
  });

  it("stores read positions, tells the room, and reports lastReadId and unread on join", async () => {
    const [a, b] = await twoInstances();
    const alice = await user(a, "alice");
    const bob = await user(b, "bob");
    await ok(alice, "chat:join", { roomId: "team:core" });
    await ok(bob, "chat:join", { roomId: "team:core" });
    const sent: Message[] = [];
    for (let i = 0; i < 4; i++)
      sent.push(await ok(alice, "chat:send", { roomId: "team:core", text: `r${i}` }));
    await ok(bob, "chat:send", { roomId: "team:core", text: "bob's own" });

    const fresh = await ok(bob, "chat:join", { roomId: "team:core" });
    expect(fresh.lastReadId).toBeNull();
    expect(fresh.unread).toBe(4);

    const announced = nextEvent(alice, "chat:read");
    const read = await ok(bob, "chat:read", { roomId: "team:core", messageId: sent[1]?.id as string });
    expect(read).toEqual({ roomId: "team:core", messageId: sent[1]?.id });
    expect(await announced).toEqual({ roomId: "team:core", userId: "bob", messageId: sent[1]?.id });

    // An older position does not move it back, and nothing is announced.
    const aliceReads = record(alice, "chat:read");
    const stale = await ok(bob, "chat:read", { roomId: "team:core", messageId: sent[0]?.id as string });
    expect(stale.messageId).toBe(sent[1]?.id);

    const bobLater = await user(a, "bob");
    const joined = await ok(bobLater, "chat:join", { roomId: "team:core" });
    expect(joined.lastReadId).toBe(sent[1]?.id);
    expect(joined.unread).toBe(2);
    await sleep(100);
    expect(aliceReads).toEqual([]);
  });

  it("stores and broadcasts system messages posted by the internal API", async () => {
    const [a, b] = await twoInstances();
    const bob = await user(b, "bob");
    await ok(bob, "chat:join", { roomId: "team:core" });
    const arrives = nextEvent(bob, "chat:message");
    const posted = await a.chat.service.postSystemMessage("team:core", "  deploy finished  ");
    expect(posted).toMatchObject({ roomId: "team:core", senderId: "system", text: "deploy finished" });
    expect(await arrives).toEqual(posted);
    const custom = await a.chat.service.postSystemMessage("dm:alice:bob", "from the bot", "bot-1");
    expect(custom.senderId).toBe("bot-1");
    await expect(a.chat.service.postSystemMessage("not a room", "x")).rejects.toMatchObject({
      code: "INVALID_PAYLOAD",
    });
    await expect(a.chat.service.postSystemMessage("team:core", "   ")).rejects.toMatchObject({
      code: "INVALID_PAYLOAD",
    });
    await expect(a.chat.service.postSystemMessage("user:bob", "x")).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    const response = await request(bob, "chat:history", { roomId: "team:core" });
    expect(response.ok && response.data.messages).toEqual([posted]);
  });
});

describe("chat without Redis", () => {
  it("keeps the same behaviour on a single instance with in-memory stores", async () => {
    const app = await startChatApp({ REDIS_URL: undefined });
    fixture.apps.push(app);
    const alice = await user(app, "alice");
    const bob = await user(app, "bob");
    await ok(alice, "chat:join", { roomId: "team:core" });
    const bobJoin = await ok(bob, "chat:join", { roomId: "team:core" });
    expect(bobJoin.online.sort()).toEqual(["alice", "bob"]);
    const bobSees = record(bob, "chat:message");
    const first = await ok(alice, "chat:send", { roomId: "team:core", text: "one", clientMsgId: "k1" });
    expect(await ok(alice, "chat:send", { roomId: "team:core", text: "one", clientMsgId: "k1" })).toEqual(
      first,
    );
    const second = await ok(alice, "chat:send", { roomId: "team:core", text: "two" });
    await eventually(() => bobSees.length === 2);
    expect(bobSees).toEqual([first, second]);
    const recovered = await ok(bob, "chat:join", { roomId: "team:core", since: first.id });
    expect(recovered).toMatchObject({ recovered: true, messages: [second], hasMore: false });
  });
});
