import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Message } from "../../packages/client/src/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, eventually } from "../helpers/client.js";
import { closeSdkClients, Gate, recordSdk, sdkClient } from "./support.js";

const ROOM = "team:core";

describe("the SDK's edits, deletes, reactions, replies and room list against the real server", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp({ PRESENCE_GRACE_MS: "0" });
  });
  afterEach(() => {
    closeSdkClients();
    closeAllClients();
  });
  afterAll(async () => {
    await app.close();
  });

  it("keeps each joined room's model with edits, deletes, reactions and replies applied, on both sides", async () => {
    const alice = sdkClient(app.url, "alice");
    const bob = sdkClient(app.url, "bob");
    await alice.chat.join(ROOM);
    await bob.chat.join(ROOM);
    const bobChanged = recordSdk(bob, "changed");
    const m1 = await alice.chat.send(ROOM, "helo @bob", { mentions: ["bob"] });
    const reply = await bob.chat.send(ROOM, "hi!", { replyTo: m1.id });
    expect(reply.replyTo).toBe(m1.id);
    await alice.chat.edit(ROOM, m1.id, "hello @bob");
    await bob.chat.react(ROOM, m1.id, "👍", true);
    await alice.chat.react(ROOM, m1.id, "👍", true);
    await bob.chat.delete(ROOM, reply.id);
    await expect(bob.chat.edit(ROOM, m1.id, "not mine")).rejects.toMatchObject({ code: "FORBIDDEN" });

    const expected = [
      {
        id: m1.id,
        text: "hello @bob",
        mentions: ["bob"],
        reactions: [{ emoji: "👍", count: 2, users: ["bob", "alice"] }],
      },
      { id: reply.id, text: "", deleted: true, replyTo: m1.id },
    ];
    for (const client of [alice, bob]) {
      await eventually(() => client.chat.messages(ROOM)[1]?.deleted === true);
      expect(client.chat.messages(ROOM)).toMatchObject(expected);
    }
    expect(bobChanged.map((m) => m.rev)).toEqual([3, 4, 5, 6]);

    // A client that joins later builds the same model from the folded page.
    const carol = sdkClient(app.url, "carol");
    await carol.chat.join(ROOM);
    expect(carol.chat.messages(ROOM)).toMatchObject(expected);
  });

  it("applies the changes it missed while offline once it rejoins", async () => {
    const gate = new Gate();
    const alice = sdkClient(app.url, "alice");
    const bob = sdkClient(app.url, "bob", { gate });
    const room = "team:offline";
    await alice.chat.join(room);
    await bob.chat.join(room);
    const m1 = await alice.chat.send(room, "one");
    const m2 = await alice.chat.send(room, "two");
    await eventually(() => bob.chat.messages(room).length === 2);
    gate.close();
    app.app.io.in("user:bob").disconnectSockets(true);
    await eventually(() => gate.waiting > 0);
    await alice.chat.edit(room, m1.id, "one, edited");
    await alice.chat.delete(room, m2.id);
    await alice.chat.react(room, m1.id, "🎉", true);
    const rejoined = recordSdk(bob, "rejoin");
    gate.open();
    await eventually(() => rejoined.length === 1);
    expect(rejoined[0]?.recovered).toBe(true);
    expect(bob.chat.messages(room)).toMatchObject([
      { text: "one, edited", reactions: [{ emoji: "🎉", count: 1, users: ["alice"] }] },
      { deleted: true, text: "" },
    ] satisfies Partial<Message>[]);
  });

  it("lists the user's rooms with unread counts, hears of activity in rooms it has not joined, and forgets", async () => {
    const alice = sdkClient(app.url, "alice");
    await alice.chat.join("team:la");
    await alice.chat.join("team:lb");
    const bob = sdkClient(app.url, "bob");
    await bob.chat.join("team:la");
    await bob.chat.join("team:lb");
    await bob.chat.leave("team:lb");
    const announced = recordSdk(bob, "room");
    const sent = await alice.chat.send("team:lb", "@bob news", { mentions: ["bob"] });
    await eventually(() => announced.some((e) => e.seq === sent.seq));
    expect(announced.every((e) => e.roomId === "team:lb")).toBe(true);
    // Bob's list holds the rooms of the tests before too.
    const list = await bob.chat.roomList();
    expect(list.rooms[0]).toMatchObject({ roomId: "team:lb", unread: 1, mentions: 1, lastMessage: sent });
    expect(list.rooms.find((r) => r.roomId === "team:la")).toMatchObject({ unread: 0, lastMessage: null });
    await bob.chat.forget("team:lb");
    expect((await bob.chat.roomList()).rooms.map((r) => r.roomId)).not.toContain("team:lb");
  });
});
