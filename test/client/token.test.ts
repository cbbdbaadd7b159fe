import { describe, expect, it } from "vitest";
import {
  backoffDelayMs,
  MAX_TIMER_MS,
  readTokenClaims,
  refreshDelayMs,
} from "../../packages/client/src/token.js";
import { tokenFor } from "../helpers/tokens.js";

describe("token refresh scheduling", () => {
  it("reads sub and exp from a JWT without verifying it, and nothing from garbage", async () => {
    const token = await tokenFor("alice", {}, { expiresIn: 600 });
    const claims = readTokenClaims(token);
    expect(claims.sub).toBe("alice");
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000 + 590);
    expect(readTokenClaims("not-a-jwt")).toEqual({});
    expect(readTokenClaims("a.!!!.c")).toEqual({});
  });

  it("refreshes a long-lived token the margin before it expires", () => {
    const now = 1_000_000_000_000;
    const delay = refreshDelayMs({
      exp: now / 1000 + 3600,
      obtainedAt: now,
      now,
      marginMs: 60_000,
      minDelayMs: 1000,
    });
    expect(delay).toBe(3_540_000);
  });

  it("refreshes a token shorter than the margin at half its lifetime", () => {
    const now = 1_000_000_000_000;
    expect(
      refreshDelayMs({ exp: now / 1000 + 10, obtainedAt: now, now, marginMs: 60_000, minDelayMs: 1000 }),
    ).toBe(5000);
    // Some of it already spent.
    expect(
      refreshDelayMs({
        exp: now / 1000 + 10,
        obtainedAt: now,
        now: now + 4000,
        marginMs: 60_000,
        minDelayMs: 1000,
      }),
    ).toBe(1000);
  });

  it("never schedules in the past nor beyond what setTimeout can hold", () => {
    const now = 1_000_000_000_000;
    expect(
      refreshDelayMs({
        exp: now / 1000 - 100,
        obtainedAt: now - 200_000,
        now,
        marginMs: 60_000,
        minDelayMs: 1000,
      }),
    ).toBe(1000);
    expect(
      refreshDelayMs({ exp: now / 1000 + 10 ** 9, obtainedAt: now, now, marginMs: 60_000, minDelayMs: 1000 }),
    ).toBe(MAX_TIMER_MS);
  });

  it("backs off exponentially with jitter, up to the maximum", () => {
    const options = { minMs: 500, maxMs: 5000 };
    expect(backoffDelayMs(1, { ...options, random: () => 0 })).toBe(250);
    expect(backoffDelayMs(1, { ...options, random: () => 1 })).toBe(500);
    expect(backoffDelayMs(3, { ...options, random: () => 1 })).toBe(2000);
    expect(backoffDelayMs(10, { ...options, random: () => 1 })).toBe(5000);
  });
});
