import { describe, expect, it } from "vitest";
import { RecentIds } from "../../packages/client/src/recent-ids.js";

describe("RecentIds", () => {
  it("says yes once per id, and forgets the oldest beyond its capacity", () => {
    const recent = new RecentIds(2);
    expect(recent.add("a")).toBe(true);
    expect(recent.add("a")).toBe(false);
    expect(recent.add("b")).toBe(true);
    expect(recent.add("c")).toBe(true);
    expect(recent.add("b")).toBe(false);
    expect(recent.add("a")).toBe(true);
  });
});
