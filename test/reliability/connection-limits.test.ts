import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { FeaturesFactory } from "../../src/app.js";
import { featureBuilders } from "../../src/features.js";
import { AppError, userRoom } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { ChildServer } from "../helpers/child-server.js";
import {
  closeAllClients,
  connectClient,
  connectError,
  connected,
  eventually,
  type TestSocket,
} from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * MAX_CONNECTIONS_PER_USER holds under concurrency and across instances: the count is the
 * user's connections in the presence store, recorded atomically with the check during the
 * handshake. RATE_CONNECT_PER_IP_PER_MIN counts every handshake of an address.
 */

let redis: RedisServer;
let client: Redis;
const apps: TestApp[] = [];
const children: ChildServer[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = redis.client();
});
afterEach(async () => {
  closeAllClients();
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await Promise.all(children.splice(0).map((c) => c.kill()));
});
afterAll(async () => {
  client?.disconnect();
  await redis?.destroy();
});

const prefix = () => `cl${randomBytes(4).toString("hex")}:`;

async function start(env: Record<string, string | undefined>, features?: FeaturesFactory): Promise<TestApp> {
  const app = await startApp(env, features);
  apps.push(app);
  return app;
}

/** Connects, resolving with "connected" or the refusal's code; the socket stays open. */
function attempt(url: string, token: string): Promise<{ socket: TestSocket; outcome: string }> {
  const socket = connectClient(url, token);
  return new Promise((resolve) => {
    socket.once("connect", () => resolve({ socket, outcome: "connected" }));
    socket.once("connect_error", (err) =>
      resolve({ socket, outcome: (err as { data?: { code?: string } }).data?.code ?? err.message }),
    );
  });
}

const tally = (outcomes: string[]) =>
  outcomes.reduce<Record<string, number>>((acc, o) => {
    acc[o] = (acc[o] ?? 0) + 1;
    return acc;
  }, {});

/** The user's connections recorded in Redis, every instance's. */
const recorded = (keyPrefix: string, userId: string) => client.hlen(`${keyPrefix}presence:{${userId}}:conns`);

const serverSockets = (...instances: TestApp[]) =>
  instances.reduce((n, t) => n + t.app.io.of("/").sockets.size, 0);

describe("connections per user", () => {
  it("admits exactly MAX_CONNECTIONS_PER_USER of 30 simultaneous handshakes of one user", async () => {
    const keyPrefix = prefix();
    const t = await start({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: keyPrefix,
      MAX_CONNECTIONS_PER_USER: "10",
    });
    const token = await tokenFor("crowd");
    const results = await Promise.all(Array.from({ length: 30 }, () => attempt(t.url, token)));
    expect(tally(results.map((r) => r.outcome))).toEqual({ connected: 10, TOO_MANY_CONNECTIONS: 20 });
    expect(serverSockets(t)).toBe(10);
    expect(await recorded(keyPrefix, "crowd")).toBe(10);
    // The refused handshakes joined the user room beside their admission: they left it again.
    await eventually(() => t.app.io.of("/").adapter.rooms.get(userRoom("crowd"))?.size === 10);
    const members = t.app.io.of("/").adapter.rooms.get(userRoom("crowd")) ?? new Set();
    expect([...members].every((id) => t.app.io.of("/").sockets.has(id))).toBe(true);
  });

  it("admits exactly MAX_CONNECTIONS_PER_USER of 30 simultaneous handshakes split over two instances", async () => {
    const keyPrefix = prefix();
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: keyPrefix, MAX_CONNECTIONS_PER_USER: "10" };
    const [a, b] = await Promise.all([start(env), start(env)]);
    const token = await tokenFor("split");
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, n) => attempt((n % 2 === 0 ? a : b).url, token)),
    );
    expect(tally(results.map((r) => r.outcome))).toEqual({ connected: 10, TOO_MANY_CONNECTIONS: 20 });
    expect(serverSockets(a, b)).toBe(10);
    expect(await recorded(keyPrefix, "split")).toBe(10);
    // Other users are not affected.
    expect((await connected(b.url, await tokenFor("someone-else"))).connected).toBe(true);
  });

  it("admits exactly MAX_CONNECTIONS_PER_USER of 30 simultaneous handshakes without Redis", async () => {
    const t = await start({ MAX_CONNECTIONS_PER_USER: "10" });
    const token = await tokenFor("solo");
    const results = await Promise.all(Array.from({ length: 30 }, () => attempt(t.url, token)));
    expect(tally(results.map((r) => r.outcome))).toEqual({ connected: 10, TOO_MANY_CONNECTIONS: 20 });
    expect(serverSockets(t)).toBe(10);
  });

  it("counts a closed socket out", async () => {
    const keyPrefix = prefix();
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: keyPrefix, MAX_CONNECTIONS_PER_USER: "3" };
    const [a, b] = await Promise.all([start(env), start(env)]);
    const token = await tokenFor("churn");
    const first = await connected(a.url, token);
    await connected(b.url, token);
    await connected(b.url, token);
    expect((await connectError(a.url, token)).data).toEqual({ status: 429, code: "TOO_MANY_CONNECTIONS" });
    first.disconnect();
    await eventually(async () => (await recorded(keyPrefix, "churn")) === 2);
    expect((await connected(b.url, token)).connected).toBe(true);
  });

  it("counts a SIGKILLed instance's sockets out once the survivors reap it", async () => {
    const keyPrefix = prefix();
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: keyPrefix,
      MAX_CONNECTIONS_PER_USER: "3",
      PRESENCE_TTL_MS: "1500",
    };
    const [a, b] = await Promise.all([new ChildServer(env).start(), new ChildServer(env).start()]);
    children.push(a, b);
    const token = await tokenFor("victim");
    for (let i = 0; i < 3; i++) await connected(a.url, token);
    expect((await connectError(b.url, token)).data?.code).toBe("TOO_MANY_CONNECTIONS");

    await a.signal("SIGKILL");
    await eventually(async () => (await attempt(b.url, token)).outcome === "connected", 15_000, 250);
    // The dead instance's three are gone for good: exactly the cap fits again.
    const more = [await attempt(b.url, token), await attempt(b.url, token), await attempt(b.url, token)];
    expect(more.map((r) => r.outcome)).toEqual(["connected", "connected", "TOO_MANY_CONNECTIONS"]);
    expect(await recorded(keyPrefix, "victim")).toBe(3);
  });
});

describe("a handshake that does not complete", () => {
  /** A step after presence's admission that waits for the test, then lets through or refuses. */
  function gated() {
    let release: (refuse?: AppError) => void = () => {};
    let arrived: () => void = () => {};
    const reached = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const gate = new Promise<AppError | undefined>((resolve) => {
      release = resolve;
    });
    const features: FeaturesFactory = (config, shared) => {
      const build = featureBuilders(config, shared);
      return [
        build.presence(),
        {
          name: "gate",
          handshake: [
            {
              // The phase after the admission's (steps of one phase run together).
              phase: "join",
              async run() {
                arrived();
                const refusal = await gate;
                if (refusal) throw refusal;
              },
            },
          ],
        },
        build.instances(),
      ];
    };
    return { features, reached, release: (refuse?: AppError) => release(refuse) };
  }

  it("gives the connection back when the client leaves during the handshake", async () => {
    const keyPrefix = prefix();
    const gate = gated();
    const t = await start(
      { REDIS_URL: redis.url, REDIS_KEY_PREFIX: keyPrefix, MAX_CONNECTIONS_PER_USER: "1" },
      gate.features,
    );
    const token = await tokenFor("leaver");
    const leaving = connectClient(t.url, token);
    await gate.reached;
    expect(await recorded(keyPrefix, "leaver")).toBe(1);
    leaving.disconnect();
    await eventually(() => t.app.io.engine.clientsCount === 0);
    gate.release();
    await eventually(async () => (await recorded(keyPrefix, "leaver")) === 0);
    expect(serverSockets(t)).toBe(0);
    expect((await connected(t.url, token)).connected).toBe(true);
  });

  it("gives the connection back when a later step refuses the handshake", async () => {
    const keyPrefix = prefix();
    const gate = gated();
    const t = await start(
      { REDIS_URL: redis.url, REDIS_KEY_PREFIX: keyPrefix, MAX_CONNECTIONS_PER_USER: "1" },
      gate.features,
    );
    const refusal = connectError(t.url, await tokenFor("refused"));
    await gate.reached;
    expect(await recorded(keyPrefix, "refused")).toBe(1);
    gate.release(new AppError("FORBIDDEN", "not today"));
    expect((await refusal).data).toEqual({ status: 403, code: "FORBIDDEN" });
    await eventually(async () => (await recorded(keyPrefix, "refused")) === 0);
  });
});

describe("connection floods from one address", () => {
  it("refuses handshakes past the per-address rate with RATE_LIMITED and a retry hint", async () => {
    const t = await start({ RATE_CONNECT_PER_IP_PER_MIN: "5", MAX_CONNECTIONS_PER_USER: "100" }, () => []);
    const token = await tokenFor("flooder");
    for (let i = 0; i < 5; i++) await connected(t.url, token);
    const err = await connectError(t.url, token);
    expect(err.data).toMatchObject({ status: 429, code: "RATE_LIMITED", retryAfterMs: expect.any(Number) });
    // The flood did not take the server down: the sockets already admitted still work.
    expect(t.app.io.of("/").sockets.size).toBe(5);
  });

  it("gives back the connection presence admitted beside a handshake the per-address rate refused", async () => {
    const keyPrefix = prefix();
    const t = await start({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: keyPrefix,
      RATE_CONNECT_PER_IP_PER_MIN: "2",
      MAX_CONNECTIONS_PER_USER: "5",
    });
    const token = await tokenFor("counted-twice");
    await connected(t.url, token);
    await connected(t.url, token);
    // Counted in the same phase as presence's admission, which recorded it too.
    expect((await connectError(t.url, token)).data?.code).toBe("RATE_LIMITED");
    await eventually(async () => (await recorded(keyPrefix, "counted-twice")) === 2);
    expect(serverSockets(t)).toBe(2);
  });

  it("counts handshakes refused by authentication, so a valid token after them is refused RATE_LIMITED", async () => {
    const t = await start({ RATE_CONNECT_PER_IP_PER_MIN: "5", MAX_CONNECTIONS_PER_USER: "100" }, () => []);
    const bad = [undefined, "not.a.jwt", await tokenFor("guesser", {}, { secret: "x".repeat(40) })];
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await connectError(t.url, bad[i % bad.length])).data?.code);
    expect(codes).toEqual([
      "TOKEN_MISSING",
      "TOKEN_INVALID",
      "TOKEN_INVALID",
      "TOKEN_MISSING",
      "TOKEN_INVALID",
    ]);
    const err = await connectError(t.url, await tokenFor("guesser"));
    expect(err.data).toMatchObject({ status: 429, code: "RATE_LIMITED", retryAfterMs: expect.any(Number) });
    // Refused before its token was looked at: a missing token gets the same answer, and
    // authentication never saw it (it logs every token it refuses).
    const refusedByAuth = () => t.logs.lines.filter((l) => l.msg === "handshake refused").length;
    const before = refusedByAuth();
    expect((await connectError(t.url, undefined)).data?.code).toBe("RATE_LIMITED");
    expect((await connectError(t.url, "not.a.jwt")).data?.code).toBe("RATE_LIMITED");
    expect(refusedByAuth()).toBe(before);
  });
});

describe("connections while Redis is down", () => {
  it("still admits a valid token within about a second, uncounted: the count is a guard, not a dependency", async () => {
    const own = await startRedis();
    try {
      const t = await start({
        REDIS_URL: own.url,
        REDIS_KEY_PREFIX: prefix(),
        MAX_CONNECTIONS_PER_USER: "1",
      });
      await own.stop();
      const started = Date.now();
      const sockets = [await connected(t.url, await tokenFor("during-outage"))];
      sockets.push(await connected(t.url, await tokenFor("during-outage")));
      expect(sockets.map((s) => s.connected)).toEqual([true, true]);
      expect(Date.now() - started).toBeLessThan(8000);
      expect(t.logs.lines.some((l) => l.msg === "connection count unavailable")).toBe(true);
    } finally {
      await own.destroy();
    }
  });
});
