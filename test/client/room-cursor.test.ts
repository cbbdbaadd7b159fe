import { describe, expect, it } from "vitest";
import { compareMessageIds } from "../../packages/client/src/ids.js";
import { RoomCursor, sortUniqueById } from "../../packages/client/src/room-cursor.js";
import type { Message } from "../../src/protocol/index.js";

const at = (seq: number, epoch = "e1"): Message => ({
  id: `${1000 + seq}-${seq}`,
  roomId: "team:core",
  seq,
  epoch,
  senderId: "bob",
  text: `m${seq}`,
  createdAt: 0,
});

describe("message ids", () => {
  it("orders stream ids numerically, beyond the precision of a double", () => {
    expect(compareMessageIds("9-0", "10-0")).toBeLessThan(0);
    expect(compareMessageIds("10-2", "10-10")).toBeLessThan(0);
    expect(compareMessageIds("10-10", "10-10")).toBe(0);
    expect(compareMessageIds("18446744073709551615-1", "18446744073709551614-9")).toBeGreaterThan(0);
  });
});

describe("RoomCursor", () => {
  it("takes the next seq, drops what it has, and sees a hole or another epoch", () => {
    const cursor = new RoomCursor();
    expect(cursor.classify(at(7))).toBe("next"); // nothing held yet
    cursor.restart("e1", 4);
    expect(cursor.classify(at(5))).toBe("next");
    cursor.advance(at(5));
    expect(cursor.classify(at(5))).toBe("old");
    expect(cursor.classify(at(2))).toBe("old");
    expect(cursor.classify(at(7))).toBe("hole");
    expect(cursor.classify(at(1, "e2"))).toBe("epoch");
    expect(cursor.current).toEqual({ epoch: "e1", seq: 5 });
  });

  it("recognises a replay of any length by its high-water mark", () => {
    const cursor = new RoomCursor();
    cursor.restart("e1", 0);
    for (let seq = 1; seq <= 5000; seq++) cursor.advance(at(seq));
    const replayed = Array.from({ length: 5000 }, (_, i) => cursor.classify(at(i + 1)));
    expect(new Set(replayed)).toEqual(new Set(["old"]));
  });

  it("asks to join from its seq and epoch, or for the newest page before it has any", () => {
    const cursor = new RoomCursor();
    expect(cursor.joinRequest("team:core")).toEqual({ roomId: "team:core" });
    cursor.restart("e1", 0);
    expect(cursor.joinRequest("team:core")).toEqual({ roomId: "team:core", sinceSeq: 0, epoch: "e1" });
    cursor.advance(at(1));
    expect(cursor.joinRequest("team:core")).toEqual({ roomId: "team:core", sinceSeq: 1, epoch: "e1" });
  });

  it("sorts a batch by id, each id once", () => {
    expect(sortUniqueById([at(2), at(1), at(2)]).map((m) => m.seq)).toEqual([1, 2]);
  });
});
