import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ChildServer } from "../helpers/child-server.js";
import { closeAllClients, connectError, connected, nextEvent, ok, request } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { TEST_JWT_SECRET, tokenFor } from "../helpers/tokens.js";

/**
 * A whole session against the built server at debug level, every secret-bearing path
 * taken (handshakes, refreshes, refusals, the internal API, metrics), then every line the
 * process wrote, stdout and stderr, is searched for every secret it saw.
 */

const API_KEY = "secrets-test-internal-api-key-0123456789";
const WRONG_KEY = "wrong-internal-api-key-9876543210-abcdef";
const METRICS_TOKEN = "secrets-test-metrics-token-0123456789";

let server: ChildServer | undefined;
let redis: RedisServer | undefined;

afterEach(async () => {
  closeAllClients();
  await server?.kill();
});
afterAll(async () => {
  await redis?.destroy();
});

/** The parts of a JWT that carry anything: its claims and its signature. */
const tokenParts = (token: string): string[] => token.split(".").slice(1);

describe("secrets in logs", () => {
  it("writes no token, API key, metrics token or JWT secret in any line during a whole session", async () => {
    redis = await startRedis();
    server = await new ChildServer({
      REDIS_URL: redis.url,
      LOG_LEVEL: "debug",
      INTERNAL_API_KEY: API_KEY,
      METRICS_TOKEN,
      SHUTDOWN_GRACE_MS: "500",
    }).start();
    const url = server.url;
    const tokens = {
      first: await tokenFor("alice", { rooms: ["team:*"] }),
      refreshed: await tokenFor("alice", { rooms: ["team:*"] }, { expiresIn: "2h" }),
      otherUser: await tokenFor("bob"),
      expired: await tokenFor("alice", {}, { expiresIn: -60 }),
      badSignature: await tokenFor("alice", {}, { secret: "another-secret-0123456789-0123456789-xyz" }),
      header: await tokenFor("carol"),
      polling: await tokenFor("dave"),
      inQuery: await tokenFor("erin"),
    };

    // Sockets: connect, use, refresh (good, another user's, expired), get cut off by the internal API.
    const alice = await connected(url, tokens.first);
    await ok(alice, "chat:join", { roomId: "team:core" });
    await ok(alice, "chat:send", { roomId: "team:core", text: "hello" });
    await ok(alice, "auth:refresh", { token: tokens.refreshed });
    expect(await request(alice, "auth:refresh", { token: tokens.otherUser })).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN" },
    });
    expect(await request(alice, "auth:refresh", { token: tokens.expired })).toMatchObject({
      ok: false,
      error: { code: "TOKEN_EXPIRED" },
    });
    await connected(url, undefined as unknown as string, {
      auth: {},
      extraHeaders: { authorization: `Bearer ${tokens.header}` },
    });
    await connected(url, tokens.polling, { transports: ["polling"] });
    expect((await connectError(url, tokens.expired)).data?.code).toBe("TOKEN_EXPIRED");
    expect((await connectError(url, tokens.badSignature)).data?.code).toBe("TOKEN_INVALID");
    expect((await connectError(url, `${tokens.first}x`)).data?.code).toBe("TOKEN_INVALID");
    expect(
      (await connectError(url, undefined, { auth: {}, query: { token: tokens.inQuery } })).data?.code,
    ).toBe("TOKEN_MISSING");

    // The internal API with the key, with a wrong one, with the key in the wrong scheme.
    const post = (path: string, body: unknown, authorization: string) =>
      fetch(`${url}${path}`, {
        method: "POST",
        headers: { authorization, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const bearer = `Bearer ${API_KEY}`;
    expect(
      (await post("/internal/notifications", { userIds: ["alice"], type: "t", title: "x" }, bearer)).status,
    ).toBe(202);
    expect((await post("/internal/rooms/team:core/messages", { text: "system" }, bearer)).status).toBe(201);
    expect((await post("/internal/notifications", { userIds: [] }, bearer)).status).toBe(400);
    expect((await post("/internal/notifications", {}, `Bearer ${WRONG_KEY}`)).status).toBe(401);
    expect((await post("/internal/notifications", {}, `Basic ${API_KEY}`)).status).toBe(401);
    expect((await post("/internal/nope", {}, bearer)).status).toBe(404);
    const cutOff = nextEvent(alice, "server:error", 200).catch(() => undefined);
    const gone = new Promise((resolve) => alice.once("disconnect", resolve));
    expect((await post("/internal/users/alice/disconnect", {}, bearer)).status).toBe(202);
    await gone;
    await cutOff;

    const metrics = (authorization: string) => fetch(`${url}/metrics`, { headers: { authorization } });
    expect((await metrics(`Bearer ${METRICS_TOKEN}`)).status).toBe(200);
    expect((await metrics(`Bearer ${WRONG_KEY}`)).status).toBe(401);

    closeAllClients();
    expect(await server.signal("SIGTERM")).toBe(0);

    // The session was logged: the search below looks at real lines.
    const messages = server.lines.map((l) => l.msg);
    expect(messages.filter((m) => m === "connected").length).toBeGreaterThanOrEqual(3);
    expect(messages.filter((m) => m === "handshake refused").length).toBeGreaterThanOrEqual(4);
    expect(messages).toContain("user disconnected on request");
    expect(messages).toContain("system message posted");
    expect(messages).toContain("stopped");

    const everything = server.raw.join("\n");
    const secrets = {
      ...Object.fromEntries(
        Object.entries(tokens).flatMap(([name, token]) =>
          tokenParts(token).map((part, i) => [`${name} token part ${i + 2}`, part]),
        ),
      ),
      "API key": API_KEY,
      "wrong API key": WRONG_KEY,
      "metrics token": METRICS_TOKEN,
      "JWT secret": TEST_JWT_SECRET,
    };
    const leaked = Object.entries(secrets)
      .filter(([, secret]) => everything.includes(secret))
      .map(([name]) => name);
    expect(leaked).toEqual([]);
  });
});
