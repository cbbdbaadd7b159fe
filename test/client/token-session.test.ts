import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RealtimeError } from "../../packages/client/src/errors.js";
import { Requests } from "../../packages/client/src/requests.js";
import { TokenSession } from "../../packages/client/src/token-session.js";
import { FakeTransport } from "./fake-transport.js";

/** A JWT-shaped token: the SDK reads `sub` and `exp` without verifying anything. */
function jwt(claims: { sub?: string; exp?: number }): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none" })}.${part(claims)}.sig`;
}

const nowSec = () => Math.floor(Date.now() / 1000);

function setup(getToken: () => string | Promise<string>, overrides: { maxAuthFailures?: number } = {}) {
  const transport = new FakeTransport();
  transport.connected = true;
  const requests = new Requests({ transport, timeoutMs: 10_000 });
  const errors: RealtimeError[] = [];
  const session = new TokenSession({
    getToken,
    refreshMarginMs: 60_000,
    maxAuthFailures: overrides.maxAuthFailures ?? 3,
    request: requests.request,
    isConnected: () => transport.connected,
    now: () => Date.now(),
    onError: (err) => errors.push(err),
  });
  return { transport, session, errors };
}

describe("TokenSession", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("fetches one token for concurrent handshakes and reuses it while it is valid", async () => {
    let fetches = 0;
    const { session } = setup(async () => {
      fetches += 1;
      return jwt({ sub: "alice", exp: nowSec() + 600 });
    });
    const [a, b] = await Promise.all([session.forHandshake(), session.forHandshake()]);
    expect(a).toBe(b);
    expect(await session.forHandshake()).toBe(a);
    expect(fetches).toBe(1);
    expect(session.userId).toBe("alice");
    session.invalidate();
    await session.forHandshake();
    expect(fetches).toBe(2);
  });

  it("fetches again after a getToken that threw synchronously", async () => {
    let fetches = 0;
    const { session, errors } = setup(() => {
      fetches += 1;
      if (fetches === 1) throw new Error("no session cookie yet");
      return jwt({ sub: "alice", exp: nowSec() + 600 });
    });
    expect(await session.forHandshake()).toBeUndefined();
    expect(errors[0]).toMatchObject({ code: "TOKEN_MISSING", message: "no session cookie yet" });
    expect(await session.forHandshake()).toEqual(expect.any(String));
    expect(fetches).toBe(2);
  });

  it("does not hand a token about to expire to a handshake", async () => {
    let fetches = 0;
    const { session } = setup(() => {
      fetches += 1;
      return jwt({ sub: "alice", exp: nowSec() + 10 });
    });
    await session.forHandshake();
    await vi.advanceTimersByTimeAsync(6000);
    await session.forHandshake();
    expect(fetches).toBe(2);
  });

  it("refreshes the margin before expiry and hands the new token to the live connection", async () => {
    let fetches = 0;
    const { transport, session } = setup(() => {
      fetches += 1;
      return jwt({ sub: "alice", exp: nowSec() + 3600 });
    });
    await session.forHandshake();
    session.connected();
    await vi.advanceTimersByTimeAsync(3_540_000 - 1);
    expect(transport.pending("auth:refresh")).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(fetches).toBe(2);
    const refresh = transport.next("auth:refresh");
    expect(refresh.payload).toEqual({ token: expect.any(String) });
    // The server's exp is the one that counts: the next refresh is planned from it.
    transport.ok(refresh, { exp: nowSec() + 120 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(transport.pending("auth:refresh")).toHaveLength(1);
    session.stop();
  });

  it("reports a failed refresh and tries again later", async () => {
    let fetches = 0;
    const { session, errors } = setup(async () => {
      fetches += 1;
      if (fetches === 2) throw new Error("token endpoint down");
      return jwt({ sub: "alice", exp: nowSec() + 100 });
    });
    await session.forHandshake();
    session.connected();
    await vi.advanceTimersByTimeAsync(50_000);
    expect(errors.map((e) => [e.code, e.message])).toEqual([["TOKEN_MISSING", "token endpoint down"]]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(fetches).toBe(3);
    session.stop();
  });

  it("counts refused tokens, not failed fetches, and gives up after maxAuthFailures in a row", async () => {
    let fetches = 0;
    const { session, errors } = setup(
      () => {
        fetches += 1;
        if (fetches === 1) return "";
        return "not-a-jwt";
      },
      { maxAuthFailures: 2 },
    );
    expect(await session.forHandshake()).toBeUndefined();
    expect(errors[0]).toMatchObject({ code: "TOKEN_MISSING" });
    expect(session.refused()).toBe(false); // no token was sent: not the token's fault
    await session.forHandshake();
    expect(session.refused()).toBe(false);
    await session.forHandshake();
    session.connected(); // a success in between starts the count over
    await session.forHandshake();
    expect(session.refused()).toBe(false);
    await session.forHandshake();
    expect(session.refused()).toBe(true);
  });
});
