import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TypingExpiry } from "../../packages/client/src/typing.js";

describe("TypingExpiry", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("ends another user's typing by itself when no news comes", () => {
    const seen: string[] = [];
    const typing = new TypingExpiry(3000, (e) => seen.push(`${e.userId}:${e.typing}`));
    typing.update("team:core", "bob", true);
    vi.advanceTimersByTime(2000);
    typing.update("team:core", "bob", true); // still typing: the clock restarts
    vi.advanceTimersByTime(2999);
    expect(seen).toEqual(["bob:true", "bob:true"]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual(["bob:true", "bob:true", "bob:false"]);
  });

  it("ends typing when the user's message arrives, and on clear", () => {
    const seen: string[] = [];
    const typing = new TypingExpiry(3000, (e) => seen.push(`${e.roomId}/${e.userId}:${e.typing}`));
    typing.update("team:core", "bob", true);
    typing.update("team:other", "carol", true);
    typing.stopped("team:core", "bob");
    typing.stopped("team:core", "bob"); // nothing left to end
    typing.clear();
    vi.advanceTimersByTime(10_000);
    expect(seen).toEqual([
      "team:core/bob:true",
      "team:other/carol:true",
      "team:core/bob:false",
      "team:other/carol:false",
    ]);
  });

  it("announces nothing for a typing: false it never saw start", () => {
    const seen: boolean[] = [];
    const typing = new TypingExpiry(3000, (e) => seen.push(e.typing));
    typing.update("team:core", "bob", false);
    expect(seen).toEqual([]);
  });
});
