import { describe, expect, it } from "vitest";
import type { Message } from "../../packages/client/src/index.js";
import { MODEL_MESSAGES_PER_ROOM, RoomModel } from "../../packages/client/src/room-model.js";

const ROOM = "team:core";
const at = (seq: number, extra: Partial<Message> = {}): Message => ({
  id: `${1000 + seq}-${seq}`,
  roomId: ROOM,
  seq,
  epoch: "e1",
  senderId: "alice",
  text: `m${seq}`,
  createdAt: 1000 + seq,
  ...extra,
});
const change = (seq: number, target: Message, extra: Partial<Message>): Message =>
  at(seq, { text: "", target: target.id, ...extra });

describe("the SDK's room model", () => {
  it("applies edits, reactions and deletes to the messages it holds, in log order", () => {
    const model = new RoomModel(() => "bob");
    const m1 = at(1);
    const m2 = at(2);
    model.apply(m1);
    model.apply(m2);
    expect(model.apply(change(3, m1, { kind: "edit", text: "m1 edited" }))).toMatchObject({
      id: m1.id,
      text: "m1 edited",
      editedAt: 1003,
      rev: 3,
    });
    model.apply(change(4, m1, { kind: "reaction", emoji: "👍", on: true, senderId: "bob" }));
    model.apply(change(5, m1, { kind: "reaction", emoji: "👍", on: true, senderId: "carol" }));
    model.apply(change(6, m1, { kind: "reaction", emoji: "👍", on: false, senderId: "carol" }));
    model.apply(change(7, m2, { kind: "reaction", emoji: "🎉", on: true }));
    model.apply(change(8, m2, { kind: "delete" }));
    const [first, second] = model.messages(ROOM);
    expect(first).toMatchObject({
      text: "m1 edited",
      rev: 6,
      reactions: [{ emoji: "👍", count: 1, users: ["bob"] }],
    });
    expect(model.reacted(first as Message, "👍")).toBe(true);
    expect(second).toMatchObject({ text: "", deleted: true, rev: 8 });
    expect(second?.reactions).toBeUndefined();
  });

  it("skips a change already folded into a message read from the server (seq not above its rev)", () => {
    const model = new RoomModel(() => "bob");
    const m1 = at(1, {
      text: "v2",
      editedAt: 1002,
      rev: 3,
      reactions: [{ emoji: "👍", count: 1, users: ["bob"] }],
    });
    model.apply(m1);
    expect(model.apply(change(2, m1, { kind: "edit", text: "v1" }))).toBeUndefined();
    expect(
      model.apply(change(3, m1, { kind: "reaction", emoji: "👍", on: true, senderId: "bob" })),
    ).toBeUndefined();
    expect(model.messages(ROOM)[0]).toMatchObject({ text: "v2", reactions: [{ count: 1 }] });
    expect(
      model.apply(change(4, m1, { kind: "reaction", emoji: "👍", on: true, senderId: "carol" })),
    ).toMatchObject({
      reactions: [{ emoji: "👍", count: 2, users: ["bob", "carol"] }],
    });
    // A message seen twice, or a change to a message it does not hold, changes nothing.
    expect(model.apply(m1)).toBeUndefined();
    expect(model.apply(change(5, at(99), { kind: "delete" }))).toBeUndefined();
  });

  it("keeps the newest messages per room and forgets a room on reset", () => {
    const model = new RoomModel(() => undefined);
    for (let seq = 1; seq <= MODEL_MESSAGES_PER_ROOM + 5; seq++) model.apply(at(seq));
    const held = model.messages(ROOM);
    expect(held).toHaveLength(MODEL_MESSAGES_PER_ROOM);
    expect(held[0]?.seq).toBe(6);
    model.reset(ROOM);
    expect(model.messages(ROOM)).toEqual([]);
  });
});
