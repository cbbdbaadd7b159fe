import { describe, expect, it } from "vitest";
import type { Notification } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { eventually, ok, record, request, sleep } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { WebhookReceiver } from "../helpers/webhook-receiver.js";
import { webhookEnv } from "../webhooks/support.js";
import { uniquePrefix, user } from "./support.js";

/**
 * Mentions: `mentions` in chat:send, checked against the text; the unread answer counts
 * them apart; a mentioned user who is offline finds a notification in their inbox. Two
 * instances with every feature (presence and notifications take part).
 */

const fixture = usePrivateRedis<TestApp>();

async function twoInstances(): Promise<[TestApp, TestApp]> {
  const shared = {
    REDIS_URL: fixture.redis.url,
    REDIS_KEY_PREFIX: uniquePrefix("mentions"),
    PRESENCE_GRACE_MS: "0",
  };
  const started = await Promise.all([startApp(shared), startApp(shared)]);
  fixture.apps.push(...started);
  return started as [TestApp, TestApp];
}

const room = "team:core";

describe("mentions", () => {
  it("stores the mentions written @<id> in the text, and refuses one the text does not write", async () => {
    const [a] = await twoInstances();
    const alice = await user(a, "alice");
    await ok(alice, "chat:join", { roomId: room });
    const sent = await ok(alice, "chat:send", {
      roomId: room,
      text: "@bob, and @carol.smith: see @bob",
      mentions: ["bob", "carol.smith", "bob"],
    });
    expect(sent.mentions).toEqual(["bob", "carol.smith"]);
    for (const [text, mentions] of [
      ["hi @bobby", ["bob"]],
      ["hi bob", ["bob"]],
      ["mail bob@example.com", ["example.com"]],
    ] as const) {
      const res = await request(alice, "chat:send", { roomId: room, text, mentions: [...mentions] });
      expect(res).toMatchObject({
        ok: false,
        error: { code: "INVALID_PAYLOAD", fields: [{ path: "mentions.0" }] },
      });
    }
    const plain = await ok(alice, "chat:send", { roomId: room, text: "no one", mentions: [] });
    expect(plain.mentions).toBeUndefined();
  });

  it("counts unread mentions apart in the join answer and the room list", async () => {
    const [a, b] = await twoInstances();
    const alice = await user(a, "alice");
    const bob = await user(b, "bob");
    await ok(alice, "chat:join", { roomId: room });
    await ok(bob, "chat:join", { roomId: room });
    await ok(bob, "chat:leave", { roomId: room });
    await ok(alice, "chat:send", { roomId: room, text: "hello all" });
    await ok(alice, "chat:send", { roomId: room, text: "@bob look", mentions: ["bob"] });
    await ok(alice, "chat:send", { roomId: room, text: "@carol look", mentions: ["carol"] });
    await ok(alice, "chat:send", { roomId: room, text: "@bob again", mentions: ["bob"] });
    const listed = await ok(bob, "chat:rooms", {});
    expect(listed.rooms[0]).toMatchObject({ roomId: room, unread: 4, mentions: 2 });
    const joined = await ok(bob, "chat:join", { roomId: room });
    expect([joined.unread, joined.mentions]).toEqual([4, 2]);
    await ok(bob, "chat:read", { roomId: room, messageId: joined.messages[2]?.id as string });
    expect((await ok(bob, "chat:rooms", {})).rooms[0]).toMatchObject({ unread: 1, mentions: 1 });
  });

  it("leaves a stored notification for a mentioned user who is offline, and none for one who is online", async () => {
    const [a, b] = await twoInstances();
    const alice = await user(a, "alice", { name: "Alice", rooms: ["team:*"] });
    const carol = await user(b, "carol");
    const carolNotified = record(carol, "notification:new");
    await ok(alice, "chat:join", { roomId: room });
    const sent = await ok(alice, "chat:send", {
      roomId: room,
      text: "@bob @carol standup?",
      mentions: ["bob", "carol"],
    });
    await sleep(300);
    expect(carolNotified).toEqual([]);
    const bob = await user(b, "bob");
    let items: Notification[] = [];
    await eventually(async () => {
      items = (await ok(bob, "notification:list", {})).items;
      return items.length === 1;
    });
    expect(items[0]).toMatchObject({
      type: "chat.mention",
      title: `Alice mentioned you in ${room}`,
      body: "@bob @carol standup?",
      data: { roomId: room, messageId: sent.id, seq: sent.seq, senderId: "alice" },
      readAt: null,
    });
    expect((await ok(carol, "notification:list", {})).items).toEqual([]);
  });

  it("leaves one notification per message when a send is repeated with its clientMsgId, on another instance too", async () => {
    const [a, b] = await twoInstances();
    const aliceOnA = await user(a, "alice");
    const aliceOnB = await user(b, "alice");
    await ok(aliceOnA, "chat:join", { roomId: room });
    await ok(aliceOnB, "chat:join", { roomId: room });
    const payload = { roomId: room, text: "@bob ping", mentions: ["bob"], clientMsgId: "m-1" };
    const first = await ok(aliceOnA, "chat:send", payload);
    expect(await ok(aliceOnB, "chat:send", payload)).toMatchObject({ id: first.id, seq: first.seq });
    expect(await ok(aliceOnA, "chat:send", payload)).toMatchObject({ id: first.id });
    await sleep(300);
    const bob = await user(b, "bob");
    const items = (await ok(bob, "notification:list", {})).items;
    expect(items.map((n) => n.data)).toEqual([
      { roomId: room, messageId: first.id, seq: first.seq, senderId: "alice" },
    ]);
  });

  it("reaches the backend as notification.undelivered when webhooks are on, the message with its mentions and reply", async () => {
    const receiver = await new WebhookReceiver().start();
    try {
      const env = webhookEnv(fixture.redis.url, uniquePrefix("mentionhooks"), receiver, {
        WEBHOOK_EVENTS: "notification.undelivered,chat.message.created",
      });
      const [a] = await Promise.all([startApp(env), startApp(env)]).then((apps) => {
        fixture.apps.push(...apps);
        return apps;
      });
      const alice = await user(a, "alice", { name: "Alice", rooms: ["team:*"] });
      await ok(alice, "chat:join", { roomId: room });
      const first = await ok(alice, "chat:send", { roomId: room, text: "agenda" });
      const sent = await ok(alice, "chat:send", {
        roomId: room,
        text: "@dora ping",
        mentions: ["dora"],
        replyTo: first.id,
      });
      await eventually(() => receiver.of("notification.undelivered").length === 1);
      expect(receiver.of("notification.undelivered")[0]?.data).toMatchObject({
        userId: "dora",
        notification: { type: "chat.mention", data: { roomId: room, messageId: sent.id } },
      });
      await eventually(() => receiver.of("chat.message.created").length === 2);
      const created = receiver.of("chat.message.created").map((e) => e.data as { messageId: string });
      expect(created.find((d) => d.messageId === sent.id)).toMatchObject({
        text: "@dora ping",
        mentions: ["dora"],
        replyTo: first.id,
      });
    } finally {
      await receiver.close();
    }
  });
});
