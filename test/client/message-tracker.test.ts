import { describe, expect, it } from "vitest";
import { compareMessageIds } from "../../src/client/ids.js";
import { MessageTracker, sortUniqueById } from "../../src/client/message-tracker.js";
import type { Message } from "../../src/protocol/index.js";

const msg = (id: string, roomId = "team:core"): Message => ({
  id,
  roomId,
  seq: Number(id.split("-")[1]),
  epoch: "e1",
  senderId: "bob",
  text: `text ${id}`,
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

describe("MessageTracker", () => {
  it("gives each id once and drops the duplicates", () => {
    const tracker = new MessageTracker();
    expect(tracker.receive(msg("1-0"))).toBe("new");
    expect(tracker.receive(msg("1-0"))).toBe("duplicate");
    expect(tracker.accept(msg("1-0"))).toBe(false);
    // The same id in another room is another message.
    expect(tracker.receive(msg("1-0", "team:other"))).toBe("new");
  });

  it("keeps the newest id as the cursor, whatever order messages arrive in", () => {
    const tracker = new MessageTracker();
    expect(tracker.cursor("team:core")).toBeUndefined();
    tracker.receive(msg("5-1"));
    tracker.receive(msg("5-0"));
    expect(tracker.cursor("team:core")).toBe("5-1");
    // An older message arriving late is delivered, not mistaken for a duplicate.
    expect(tracker.receive(msg("4-0"))).toBe("new");
    expect(tracker.cursor("team:core")).toBe("5-1");
    tracker.observe("team:core", ["3-0", "7-0"]);
    expect(tracker.cursor("team:core")).toBe("7-0");
  });

  it("holds live messages during a join and merges them with the answer in order, each once", () => {
    const tracker = new MessageTracker();
    tracker.receive(msg("1-0"));
    tracker.hold("team:core");
    expect(tracker.receive(msg("4-0"))).toBe("held");
    expect(tracker.receive(msg("3-0"))).toBe("held");
    const held = tracker.release("team:core");
    const fresh = tracker.acceptAll([msg("1-0"), msg("2-0"), msg("3-0"), ...held]);
    expect(fresh.map((m) => m.id)).toEqual(["2-0", "3-0", "4-0"]);
    // Released: live messages flow again.
    expect(tracker.receive(msg("5-0"))).toBe("new");
    expect(tracker.cursor("team:core")).toBe("5-0");
  });

  it("bounds what it remembers per room", () => {
    const tracker = new MessageTracker(3);
    for (const id of ["1-0", "2-0", "3-0", "4-0"]) tracker.accept(msg(id));
    expect(tracker.isSeen("team:core", "1-0")).toBe(false);
    expect(tracker.isSeen("team:core", "4-0")).toBe(true);
    expect(tracker.cursor("team:core")).toBe("4-0");
  });

  it("forgets a room entirely", () => {
    const tracker = new MessageTracker();
    tracker.accept(msg("1-0"));
    tracker.forget("team:core");
    expect(tracker.cursor("team:core")).toBeUndefined();
    expect(tracker.receive(msg("1-0"))).toBe("new");
  });

  it("sorts and de-duplicates a batch", () => {
    expect(sortUniqueById([msg("2-0"), msg("1-0"), msg("2-0")]).map((m) => m.id)).toEqual(["1-0", "2-0"]);
  });
});
