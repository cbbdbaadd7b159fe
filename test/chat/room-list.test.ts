import { describe, expect, it } from "vitest";
import type { ChatRoomActivity, Message } from "../../src/protocol/index.js";
import { eventually, ok, record, request, sleep } from "../helpers/client.js";
import { usePrivateRedis } from "../helpers/lifecycle.js";
import { type ChatTestApp, startChatApp, uniquePrefix, user } from "./support.js";

/**
 * The room list: `chat:rooms` (the rooms a user joined, newest activity first, with the
 * last message and the unread count) and `chat:room` (activity in a listed room this socket
 * has not joined). Two instances (A and B) over one private Redis.
 */

const fixture = usePrivateRedis<ChatTestApp>();

async function twoInstances(): Promise<[ChatTestApp, ChatTestApp, string]> {
  const prefix = uniquePrefix("rooms");
  const shared = {
    REDIS_URL: fixture.redis.url,
    REDIS_KEY_PREFIX: prefix,
    RATE_CHAT_SEND_PER_SEC: "1000",
    RATE_CHAT_SEND_BURST: "1000",
  };
  const started = await Promise.all([startChatApp(shared), startChatApp(shared)]);
  fixture.apps.push(...started);
  return [...(started as [ChatTestApp, ChatTestApp]), prefix];
}

describe("the room list", () => {
  it("lists the rooms a user joined, newest activity first, with the last message and unread count, paged", async () => {
    const [a, b] = await twoInstances();
    const alice = await user(a, "alice");
    const bob = await user(b, "bob");
    for (const roomId of ["team:one", "team:two", "team:three"]) {
      await ok(alice, "chat:join", { roomId });
      await ok(bob, "chat:join", { roomId });
    }
    await ok(alice, "chat:send", { roomId: "team:two", text: "two, first" });
    await sleep(5);
    const one = await ok(alice, "chat:send", { roomId: "team:one", text: "one" });
    await sleep(5);
    await ok(alice, "chat:send", { roomId: "team:three", text: "three, first" });
    await sleep(5);
    const three = await ok(alice, "chat:send", { roomId: "team:three", text: "three, second" });
    await ok(bob, "chat:read", { roomId: "team:three", messageId: three.id });
    // Leaving without forget keeps the room in the list.
    await ok(bob, "chat:leave", { roomId: "team:one" });

    const bobLater = await user(a, "bob");
    const first = await ok(bobLater, "chat:rooms", { limit: 2 });
    expect(first.rooms.map((r) => [r.roomId, r.unread, r.lastMessage?.text])).toEqual([
      ["team:three", 0, "three, second"],
      ["team:one", 1, "one"],
    ]);
    expect(first.rooms[0]).toMatchObject({ lastReadId: three.id, seq: 2, epoch: three.epoch });
    expect(first.rooms[1]?.lastMessage).toEqual(one);
    expect(first.cursor).not.toBeNull();
    const second = await ok(bobLater, "chat:rooms", { cursor: first.cursor as string });
    expect(second.rooms.map((r) => [r.roomId, r.unread])).toEqual([["team:two", 1]]);
    expect(second.cursor).toBeNull();

    await ok(bob, "chat:leave", { roomId: "team:two", forget: true });
    expect((await ok(bobLater, "chat:rooms", {})).rooms.map((r) => r.roomId)).toEqual([
      "team:three",
      "team:one",
    ]);
    // Alice's list is her own.
    expect((await ok(alice, "chat:rooms", {})).rooms).toHaveLength(3);
  });

  it("drops a room whose log expired, and hides one the token no longer grants", async () => {
    const [a, , prefix] = await twoInstances();
    const bob = await user(a, "bob", { rooms: ["team:*", "ops:x"] });
    await ok(bob, "chat:join", { roomId: "team:gone" });
    await ok(bob, "chat:join", { roomId: "ops:x" });
    await ok(bob, "chat:send", { roomId: "team:gone", text: "soon gone" });
    await ok(bob, "chat:leave", { roomId: "team:gone" });
    const redis = fixture.redis.client();
    try {
      await redis.del(`${prefix}chat:{team:gone}:meta`, `${prefix}chat:{team:gone}:messages`);
    } finally {
      redis.disconnect();
    }
    expect((await ok(bob, "chat:rooms", {})).rooms.map((r) => r.roomId)).toEqual(["ops:x"]);
    const narrower = await user(a, "bob", { rooms: ["team:*"] });
    expect((await ok(narrower, "chat:rooms", {})).rooms).toEqual([]);
  });

  it("refuses a cursor it did not give", async () => {
    const [a] = await twoInstances();
    const bob = await user(a, "bob");
    expect(await request(bob, "chat:rooms", { cursor: "nope" })).toMatchObject({
      ok: false,
      error: { code: "INVALID_PAYLOAD" },
    });
  });
});

describe("chat:room", () => {
  it("tells a user's sockets on every instance of a message in a listed room they have not joined, coalesced to one per second", async () => {
    const [a, b] = await twoInstances();
    const alice = await user(a, "alice");
    const bobOnA = await user(a, "bob");
    await ok(alice, "chat:join", { roomId: "team:busy" });
    await ok(bobOnA, "chat:join", { roomId: "team:busy" });
    await ok(bobOnA, "chat:leave", { roomId: "team:busy" });
    const bobOnB = await user(b, "bob");
    // A socket that follows the room live gets its messages instead.
    const bobInRoom = await user(b, "bob");
    await ok(bobInRoom, "chat:join", { roomId: "team:busy" });
    const onA = record(bobOnA, "chat:room");
    const onB = record(bobOnB, "chat:room");
    const inRoom = record(bobInRoom, "chat:room");
    const carol = await user(a, "carol");
    const notListed = record(carol, "chat:room");

    const sent = [];
    const began = Date.now();
    for (let i = 0; i < 10; i++)
      sent.push(await ok(alice, "chat:send", { roomId: "team:busy", text: `m${i}` }));
    const seconds = Math.ceil((Date.now() - began) / 1000);
    const last = sent[sent.length - 1] as Message;
    await eventually(() => onB.at(-1)?.seq === last.seq && onA.at(-1)?.seq === last.seq, 10_000);
    await sleep(1200);
    for (const events of [onA, onB]) {
      // The first at once, the rest coalesced: one trailing announcement per second of sending.
      expect(events.length).toBeGreaterThanOrEqual(1);
      expect(events.length).toBeLessThanOrEqual(seconds + 1);
      expect(events.length).toBeLessThan(10);
      expect(events.at(-1)).toEqual({
        roomId: "team:busy",
        epoch: last.epoch,
        seq: 10,
        lastActivityAt: Number(last.id.split("-")[0]),
      } satisfies ChatRoomActivity);
    }
    expect(inRoom).toEqual([]);
    expect(notListed).toEqual([]);
  });
});
