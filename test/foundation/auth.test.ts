import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { signToken } from "../../src/auth/sign.js";
import { startApp, type TestApp } from "../helpers/app.js";
import {
  closeAllClients,
  connectError,
  connected,
  nextEvent,
  ok,
  request,
  sleep,
} from "../helpers/client.js";
import { TEST_JWT_SECRET, tokenFor } from "../helpers/tokens.js";

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

afterEach(() => closeAllClients());

describe("handshake authentication with an HS256 secret", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp({ JWT_ISSUER: "https://id.example", JWT_AUDIENCE: "realtime" });
  });
  afterAll(async () => {
    await t.close();
  });

  const good = (sub = "alice", extra: Partial<Parameters<typeof tokenFor>[2]> = {}) =>
    tokenFor(
      sub,
      { name: "Alice", roles: ["member"], rooms: ["team:*"] },
      {
        issuer: "https://id.example",
        audience: "realtime",
        ...extra,
      },
    );

  it("accepts a valid token from auth.token and exposes its claims as the socket's user", async () => {
    await connected(t.url, await good());
    const [socket] = [...t.app.io.of("/").sockets.values()];
    expect(socket?.data.user).toEqual({ id: "alice", name: "Alice", roles: ["member"], rooms: ["team:*"] });
    expect(socket?.rooms.has("user:alice")).toBe(true);
  });

  it("accepts a valid token from an Authorization: Bearer header", async () => {
    const socket = await connected(t.url, undefined as unknown as string, {
      auth: {},
      extraHeaders: { authorization: `Bearer ${await good("bob")}` },
    });
    expect(socket.connected).toBe(true);
  });

  const refusals: [string, () => Promise<string | undefined>, string][] = [
    ["no token", async () => undefined, "TOKEN_MISSING"],
    ["an expired token", () => good("alice", { expiresIn: -60 }), "TOKEN_EXPIRED"],
    ["a token signed with another secret", () => good("alice", { secret: "x".repeat(40) }), "TOKEN_INVALID"],
    ["a token from another issuer", () => good("alice", { issuer: "https://evil.example" }), "TOKEN_INVALID"],
    ["a token for another audience", () => good("alice", { audience: "other" }), "TOKEN_INVALID"],
    ["a malformed token", async () => "not.a.jwt", "TOKEN_INVALID"],
    [
      "an unsigned alg:none token",
      async () =>
        `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "alice", exp: now() + 3600, iss: "https://id.example", aud: "realtime" })}.`,
      "TOKEN_INVALID",
    ],
    [
      "a token that is not valid yet (future nbf)",
      () =>
        new SignJWT({ nbf: now() + 3600 })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("alice")
          .setIssuer("https://id.example")
          .setAudience("realtime")
          .setExpirationTime("2h")
          .sign(new TextEncoder().encode(TEST_JWT_SECRET)),
      "TOKEN_INVALID",
    ],
    [
      "a token without exp",
      () =>
        new SignJWT({})
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("alice")
          .setIssuer("https://id.example")
          .setAudience("realtime")
          .sign(new TextEncoder().encode(TEST_JWT_SECRET)),
      "TOKEN_INVALID",
    ],
  ];

  for (const [what, make, code] of refusals) {
    it(`refuses ${what} with 401 ${code}`, async () => {
      const err = await connectError(t.url, await make());
      expect(err.message).toBe("unauthorized");
      expect(err.data).toEqual({ status: 401, code });
    });
  }
});

describe("handshake authentication with a secret and several pinned HMAC algorithms", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp({ JWT_ALGORITHMS: "HS384,HS512" });
  });
  afterAll(async () => {
    await t.close();
  });

  it("accepts tokens of each pinned algorithm, again and again, and refuses one it does not pin", async () => {
    for (const alg of ["HS512", "HS384", "HS512"]) {
      const token = await signToken({ sub: "dave" }, { key: TEST_JWT_SECRET, alg });
      expect((await connected(t.url, token)).connected, alg).toBe(true);
    }
    const hs256 = await signToken({ sub: "dave" }, { key: TEST_JWT_SECRET, alg: "HS256" });
    expect((await connectError(t.url, hs256)).data).toEqual({ status: 401, code: "TOKEN_INVALID" });
    const wrongSecret = await signToken({ sub: "dave" }, { key: "x".repeat(40), alg: "HS512" });
    expect((await connectError(t.url, wrongSecret)).data).toEqual({ status: 401, code: "TOKEN_INVALID" });
  });
});

describe("handshake authentication with an RS256 public key", () => {
  let t: TestApp;
  let privateKey: CryptoKey;
  let publicPem: string;

  beforeAll(async () => {
    const pair = await generateKeyPair("RS256");
    privateKey = pair.privateKey;
    publicPem = await exportSPKI(pair.publicKey);
    t = await startApp({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: publicPem });
  });
  afterAll(async () => {
    await t.close();
  });

  it("accepts an RS256 token signed with the matching private key", async () => {
    const token = await signToken({ sub: "carol" }, { key: privateKey, alg: "RS256" });
    expect((await connected(t.url, token)).connected).toBe(true);
  });

  it("refuses an HS256 token signed with the public key as the secret (algorithm confusion)", async () => {
    const token = await signToken({ sub: "carol" }, { key: publicPem, alg: "HS256" });
    const err = await connectError(t.url, token);
    expect(err.data).toEqual({ status: 401, code: "TOKEN_INVALID" });
  });
});

describe("handshake authentication with a JWKS URL", () => {
  let t: TestApp;
  let jwks: Server;
  let privateKey: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair("ES256");
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    jwks = createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    const { port } = jwks.address() as AddressInfo;
    t = await startApp({ JWT_SECRET: undefined, JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json` });
  });
  afterAll(async () => {
    await t.close();
    jwks.close();
  });

  it("accepts a token signed by a key from the JWKS", async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setSubject("jwks-user")
      .setExpirationTime("1h")
      .sign(privateKey);
    expect((await connected(t.url, token)).connected).toBe(true);
  });

  it("refuses a token whose key is not in the JWKS", async () => {
    const other = await generateKeyPair("ES256");
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: "unknown" })
      .setSubject("jwks-user")
      .setExpirationTime("1h")
      .sign(other.privateKey);
    expect((await connectError(t.url, token)).data).toEqual({ status: 401, code: "TOKEN_INVALID" });
  });
});

describe("tokens on live sockets", () => {
  let t: TestApp;

  beforeAll(async () => {
    // No leeway: these tests are about `exp` itself (the tolerance has its own below).
    t = await startApp({ JWT_CLOCK_TOLERANCE_SEC: "0" });
  });
  afterAll(async () => {
    await t.close();
  });

  it("emits auth:expired and disconnects the socket when its token expires", async () => {
    const socket = await connected(t.url, await tokenFor("dave", {}, { expiresIn: 2 }));
    const expired = nextEvent(socket, "auth:expired", 5000);
    const disconnected = new Promise<string>((resolve) => socket.once("disconnect", resolve));
    expect(await expired).toEqual({ exp: expect.any(Number) });
    expect(await disconnected).toBe("io server disconnect");
  });

  it("keeps the socket past the old expiry after auth:refresh", async () => {
    const socket = await connected(t.url, await tokenFor("erin", {}, { expiresIn: 2 }));
    const fresh = await tokenFor("erin", { rooms: ["team:new"] }, { expiresIn: 3600 });
    const { exp } = await ok(socket, "auth:refresh", { token: fresh });
    expect(exp).toBeGreaterThan(now() + 3500);
    let expired = false;
    socket.on("auth:expired", () => {
      expired = true;
    });
    await sleep(3000);
    expect(expired).toBe(false);
    expect(socket.connected).toBe(true);
    const [server] = [...t.app.io.of("/").sockets.values()].filter((s) => s.data.user.id === "erin");
    expect(server?.data.user.rooms).toEqual(["team:new"]);
  });

  it("refuses a refresh with another user's token and keeps the connection's identity", async () => {
    const socket = await connected(t.url, await tokenFor("frank"));
    const res = await request(socket, "auth:refresh", { token: await tokenFor("mallory") });
    expect(res).toEqual({
      ok: false,
      error: { code: "FORBIDDEN", message: "the new token belongs to another user" },
    });
    const [server] = [...t.app.io.of("/").sockets.values()].filter((s) => s.id === socket.id);
    expect(server?.data.user.id).toBe("frank");
  });

  it("refuses a refresh with an expired or invalid token", async () => {
    const socket = await connected(t.url, await tokenFor("gina"));
    const expired = await request(socket, "auth:refresh", {
      token: await tokenFor("gina", {}, { expiresIn: -60 }),
    });
    expect(expired).toMatchObject({ ok: false, error: { code: "TOKEN_EXPIRED" } });
    const invalid = await request(socket, "auth:refresh", { token: "garbage" });
    expect(invalid).toMatchObject({ ok: false, error: { code: "TOKEN_INVALID" } });
  });
});

describe("the token lifetime rule: valid until exp + JWT_CLOCK_TOLERANCE_SEC, everywhere", () => {
  const toleranceSec = 2;
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp({ JWT_CLOCK_TOLERANCE_SEC: String(toleranceSec) });
  });
  afterAll(async () => {
    await t.close();
  });

  /** A token for `sub` expiring at `exp` epoch seconds, which may be a fraction. */
  const tokenWithExp = (sub: string, exp: number) =>
    new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(sub)
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));

  /** When `auth:expired` arrived, and that the server then closed the socket. */
  const expiry = async (socket: Awaited<ReturnType<typeof connected>>) => {
    const disconnected = new Promise<string>((resolve) => socket.once("disconnect", resolve));
    const payload = await nextEvent(socket, "auth:expired", 15_000);
    const at = Date.now();
    expect(await disconnected).toBe("io server disconnect");
    return { payload, at };
  };

  it("cuts a socket whose token's exp is not a whole number, at exp + tolerance", async () => {
    const exp = now() + 1.5;
    const socket = await connected(t.url, await tokenWithExp("frac", exp));
    const { payload, at } = await expiry(socket);
    expect(payload).toEqual({ exp });
    expect(at).toBeGreaterThanOrEqual((exp + toleranceSec) * 1000);
  });

  it("cuts a socket refreshed to a token whose exp is not a whole number", async () => {
    const socket = await connected(t.url, await tokenFor("frac-refresh"));
    const exp = now() + 1.25;
    expect(await ok(socket, "auth:refresh", { token: await tokenWithExp("frac-refresh", exp) })).toEqual({
      exp,
      leftRooms: [],
    });
    const { payload, at } = await expiry(socket);
    expect(payload).toEqual({ exp });
    expect(at).toBeGreaterThanOrEqual((exp + toleranceSec) * 1000);
  });

  it("keeps a socket whose token expired less than the tolerance ago until exp + tolerance", async () => {
    const exp = now() - 1;
    const socket = await connected(t.url, await tokenWithExp("lenient", exp));
    const cut = expiry(socket);
    // Still served: the token is valid for about another second.
    expect(await ok(socket, "presence:query", { userIds: ["lenient"] })).toHaveLength(1);
    const { at } = await cut;
    expect(at).toBeGreaterThanOrEqual((exp + toleranceSec) * 1000);
  });

  it("answers auth:refresh to a token within the tolerance and keeps the socket until exp + tolerance", async () => {
    const socket = await connected(t.url, await tokenFor("lenient-refresh"));
    const exp = now() - 1;
    expect(await ok(socket, "auth:refresh", { token: await tokenWithExp("lenient-refresh", exp) })).toEqual({
      exp,
      leftRooms: [],
    });
    const cut = expiry(socket);
    expect(await ok(socket, "presence:query", { userIds: ["lenient-refresh"] })).toHaveLength(1);
    const { at } = await cut;
    expect(at).toBeGreaterThanOrEqual((exp + toleranceSec) * 1000);
  });

  it("refuses, at the handshake and on auth:refresh, a token whose exp + tolerance has passed by a fraction of a second", async () => {
    // jose compares whole seconds; the rule is exact. Mid-second, a deadline 0.2 s ago is
    // still "this second" to jose.
    await eventuallyMidSecond();
    const exp = Date.now() / 1000 - toleranceSec - 0.2;
    const token = await tokenWithExp("late", exp);
    expect((await connectError(t.url, token)).data).toEqual({ status: 401, code: "TOKEN_EXPIRED" });
    const socket = await connected(t.url, await tokenFor("late"));
    await eventuallyMidSecond();
    const late = await tokenWithExp("late", Date.now() / 1000 - toleranceSec - 0.2);
    expect(await request(socket, "auth:refresh", { token: late })).toMatchObject({
      ok: false,
      error: { code: "TOKEN_EXPIRED" },
    });
  });
});

/** Wait until the clock is 300–700 ms into a second. */
async function eventuallyMidSecond(): Promise<void> {
  while (Date.now() % 1000 < 300 || Date.now() % 1000 > 700) await sleep(20);
}
