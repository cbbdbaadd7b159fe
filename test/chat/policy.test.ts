import { describe, expect, it } from "vitest";
import { compareMessageIds, normalizeMessageId } from "../../src/chat/message-id.js";
import { assertNotReserved, roomAccess } from "../../src/chat/policy.js";
import { checkText } from "../../src/chat/service.js";
import type { AuthenticatedUser } from "../../src/protocol/index.js";

const allowed = (user: AuthenticatedUser, roomId: string) => roomAccess(user, roomId).allowed;

describe("room access policy", () => {
  it("opens a dm room to its two participants only, ids sorted", () => {
    expect(allowed({ id: "alice" }, "dm:alice:bob")).toBe(true);
    expect(allowed({ id: "bob" }, "dm:alice:bob")).toBe(true);
    expect(allowed({ id: "carol" }, "dm:alice:bob")).toBe(false);
    expect(allowed({ id: "alice" }, "dm:bob:alice")).toBe(false);
    expect(allowed({ id: "alice" }, "dm:alice")).toBe(false);
  });

  it("splits dm ids around the caller's own id, which may contain colons", () => {
    expect(allowed({ id: "org:alice" }, "dm:org:alice:org:bob")).toBe(true);
    expect(allowed({ id: "org:bob" }, "dm:org:alice:org:bob")).toBe(true);
    expect(allowed({ id: "org" }, "dm:org:alice:org:bob")).toBe(false);
    expect(allowed({ id: "alice" }, "dm:org:alice:org:bob")).toBe(false);
  });

  it("refuses a dm id that names two different pairs of users", () => {
    // org + zed:x, or org:zed + x: nobody can tell which conversation it is.
    for (const id of ["org", "zed:x", "org:zed", "x"]) expect(allowed({ id }, "dm:org:zed:x")).toBe(false);
  });

  it("keeps dm rooms closed to admins and to room claims", () => {
    expect(allowed({ id: "root", roles: ["admin"] }, "dm:alice:bob")).toBe(false);
    expect(allowed({ id: "eve", rooms: ["dm:*", "*", "dm:alice:bob"] }, "dm:alice:bob")).toBe(false);
  });

  it("grants other rooms through an exact claim, a claim ending in *, or the admin role", () => {
    expect(allowed({ id: "u", rooms: ["team:core"] }, "team:core")).toBe(true);
    expect(allowed({ id: "u", rooms: ["team:core"] }, "team:core2")).toBe(false);
    expect(allowed({ id: "u", rooms: ["team:*"] }, "team:anything")).toBe(true);
    expect(allowed({ id: "u", rooms: ["team:*"] }, "teams:x")).toBe(false);
    expect(allowed({ id: "u", rooms: ["*"] }, "support:42")).toBe(true);
    expect(allowed({ id: "u", roles: ["admin"] }, "support:42")).toBe(true);
    expect(allowed({ id: "u", roles: ["moderator"] }, "support:42")).toBe(false);
    expect(allowed({ id: "u" }, "support:42")).toBe(false);
  });

  it("never opens the server-managed user: and presence: rooms, not even to admins", () => {
    const root = { id: "root", roles: ["admin"], rooms: ["*", "user:*", "user:root"] };
    expect(allowed(root, "user:root")).toBe(false);
    expect(allowed(root, "presence:alice")).toBe(false);
    expect(() => assertNotReserved("user:alice")).toThrow(expect.objectContaining({ code: "FORBIDDEN" }));
    expect(() => assertNotReserved("team:a")).not.toThrow();
  });
});

describe("message text", () => {
  it("is trimmed and must keep 1..max characters, counting emoji once", () => {
    expect(checkText("  hi \n", 5)).toBe("hi");
    expect(() => checkText(" \n\t ", 5)).toThrow(expect.objectContaining({ code: "INVALID_PAYLOAD" }));
    expect(checkText("😀😀😀😀😀", 5)).toBe("😀😀😀😀😀");
    expect(() => checkText("😀😀😀😀😀😀", 5)).toThrow(expect.objectContaining({ code: "INVALID_PAYLOAD" }));
    expect(() => checkText("abcdef", 5)).toThrow(expect.objectContaining({ code: "INVALID_PAYLOAD" }));
  });
});

describe("message ids", () => {
  it("are normalized so a cursor matches the stored id, and refused beyond 64 bits", () => {
    expect(normalizeMessageId("0001700000000000-007")).toBe("1700000000000-7");
    expect(() => normalizeMessageId("18446744073709551616-0")).toThrow(
      expect.objectContaining({ code: "INVALID_PAYLOAD" }),
    );
  });

  it("compare by time, then by sequence, as numbers", () => {
    expect(compareMessageIds("9-0", "10-0")).toBeLessThan(0);
    expect(compareMessageIds("10-2", "10-10")).toBeLessThan(0);
    expect(compareMessageIds("10-10", "10-10")).toBe(0);
    expect(compareMessageIds("11-0", "10-99")).toBeGreaterThan(0);
  });
});
