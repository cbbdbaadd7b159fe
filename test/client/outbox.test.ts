import { describe, expect, it } from "vitest";
import { RealtimeError } from "../../packages/client/src/errors.js";
import { createClientMsgId } from "../../packages/client/src/ids.js";
import { Outbox } from "../../packages/client/src/outbox.js";
import type { Message } from "../../src/protocol/index.js";

const stored = (clientMsgId: string): Message => ({
  id: "1-1",
  roomId: "team:core",
  seq: 1,
  epoch: "e1",
  senderId: "alice",
  text: "hi",
  clientMsgId,
  createdAt: 0,
});

function clockedOutbox(timeoutMs = 1000) {
  const clock = { now: 1_000_000 };
  const outbox = new Outbox({ now: () => clock.now, timeoutMs });
  return { clock, outbox };
}

describe("clientMsgId", () => {
  it("is unique and matches the server's clientMsgId pattern", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => createClientMsgId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_.:-]{1,64}$/);
  });
});

describe("Outbox (the send retry queue)", () => {
  it("keeps one clientMsgId for a send however often it is retried", async () => {
    const { outbox } = clockedOutbox();
    const promise = outbox.add("team:core", "hi");
    const entry = outbox.next("team:core");
    expect(entry).toBeDefined();
    const id = entry?.clientMsgId as string;
    outbox.markSending(id);
    outbox.requeueSending(); // the connection dropped before the ack
    expect(outbox.next("team:core")).toMatchObject({ clientMsgId: id, state: "queued", attempts: 1 });
    outbox.markSending(id);
    outbox.resolve(id, stored(id));
    await expect(promise).resolves.toMatchObject({ clientMsgId: id });
    expect(outbox.size).toBe(0);
  });

  it("sends in order: a room's next entry is its oldest, even while that one waits to retry", () => {
    const { clock, outbox } = clockedOutbox();
    void outbox.add("team:core", "first", "c1");
    void outbox.add("team:core", "second", "c2");
    void outbox.add("team:other", "elsewhere", "c3");
    outbox.markSending("c1");
    outbox.retryLater("c1", 500); // RATE_LIMITED
    expect(outbox.next("team:core")).toMatchObject({ clientMsgId: "c1", notBefore: clock.now + 500 });
    expect(outbox.next("team:other")?.clientMsgId).toBe("c3");
    expect(outbox.rooms().sort()).toEqual(["team:core", "team:other"]);
    expect(outbox.nextWakeUp()).toBe(clock.now + 500);
  });

  it("treats the same clientMsgId twice as one send", async () => {
    const { outbox } = clockedOutbox();
    const a = outbox.add("team:core", "hi", "same");
    const b = outbox.add("team:core", "hi", "same");
    expect(outbox.size).toBe(1);
    outbox.resolve("same", stored("same"));
    await expect(a).resolves.toMatchObject({ clientMsgId: "same" });
    await expect(b).resolves.toMatchObject({ clientMsgId: "same" });
  });

  it("gives up with TIMEOUT once the deadline has passed, not before", async () => {
    const { clock, outbox } = clockedOutbox(1000);
    const promise = outbox.add("team:core", "hi", "c1");
    clock.now += 999;
    expect(outbox.expire()).toBe(0);
    clock.now += 1;
    expect(outbox.expire()).toBe(1);
    await expect(promise).rejects.toMatchObject({ name: "RealtimeError", code: "TIMEOUT" });
    expect(outbox.nextWakeUp()).toBeUndefined();
  });

  it("rejects a room's sends with the given error and leaves the others", async () => {
    const { outbox } = clockedOutbox();
    const core = outbox.add("team:core", "a", "c1");
    const other = outbox.add("team:other", "b", "c2");
    outbox.rejectRoom("team:core", new RealtimeError("FORBIDDEN", "no"));
    await expect(core).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(outbox.next("team:other")?.clientMsgId).toBe("c2");
    outbox.rejectAll(new RealtimeError("DISCONNECTED", "closed"));
    await expect(other).rejects.toMatchObject({ code: "DISCONNECTED" });
  });
});
