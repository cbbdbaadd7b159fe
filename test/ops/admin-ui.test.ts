import { randomBytes } from "node:crypto";
import { io as ioClient, type Socket } from "socket.io-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/infra/config.js";
import { ALLOWED_ORIGIN, startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, request } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

const PASSWORD = "admin-test-password-0123456789";
const ADMIN_ENV = { ADMIN_UI_ENABLED: "true", ADMIN_UI_USERNAME: "ops", ADMIN_UI_PASSWORD: PASSWORD };

interface ServerStats {
  serverId: string;
  clientsCount: number;
  namespaces: { name: string; socketsCount: number }[];
}

const admins: Socket[] = [];
afterEach(() => {
  for (const admin of admins.splice(0)) admin.disconnect();
  closeAllClients();
});

/** The admin UI's connection: namespace /admin, credentials (or a session id) in `auth`. */
function adminSocket(url: string, auth: Record<string, string>): Socket {
  const socket = ioClient(`${url}/admin`, {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    auth,
    extraHeaders: { origin: ALLOWED_ORIGIN },
  });
  admins.push(socket);
  return socket;
}

function outcome(socket: Socket): Promise<{ connected: true } | { connected: false; message: string }> {
  return new Promise((resolve) => {
    socket.once("connect", () => resolve({ connected: true }));
    socket.once("connect_error", (err) => resolve({ connected: false, message: err.message }));
  });
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe("the admin view's configuration", () => {
  const production = {
    NODE_ENV: "production",
    JWT_SECRET: "p".repeat(40),
    CORS_ORIGINS: "https://app.example",
  };

  it("is off by default", () => {
    expect(loadConfig({}).admin).toEqual({ enabled: false });
  });

  it("needs a password, at least 16 characters in production, and never names it", () => {
    expect(problemsOf({ ADMIN_UI_ENABLED: "true" })).toEqual([
      "ADMIN_UI_PASSWORD: required with ADMIN_UI_ENABLED=true",
    ]);
    const weak = problemsOf({
      ...production,
      ADMIN_UI_ENABLED: "true",
      ADMIN_UI_PASSWORD: "hunter2-hunter2",
    });
    expect(weak).toEqual(["ADMIN_UI_PASSWORD: must be at least 16 characters in production"]);
    expect(weak.join()).not.toContain("hunter2");
    expect(problemsOf({ ...production, ...ADMIN_ENV })).toEqual([]);
    // Outside production a short password is the developer's business.
    expect(problemsOf({ ADMIN_UI_ENABLED: "true", ADMIN_UI_PASSWORD: "dev" })).toEqual([]);
    expect(
      problemsOf({ ADMIN_UI_ENABLED: "true", ADMIN_UI_USERNAME: "same", ADMIN_UI_PASSWORD: "same" }),
    ).toEqual(["ADMIN_UI_PASSWORD: must not be the username"]);
  });

  it("refuses development mode in production, where it would show tokens and payloads", () => {
    expect(problemsOf({ ...production, ...ADMIN_ENV, ADMIN_UI_MODE: "development" })).toEqual([
      "ADMIN_UI_MODE: development mode is refused in production (it shows tokens and payloads)",
    ]);
  });
});

describe("the admin view off (the default)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it("has no /admin namespace and no page", async () => {
    expect(await outcome(adminSocket(t.url, { username: "ops", password: PASSWORD }))).toEqual({
      connected: false,
      message: "Invalid namespace",
    });
    expect((await fetch(`${t.url}/admin/`)).status).toBe(404);
    const root = (await (await fetch(`${t.url}/`)).json()) as { links: Record<string, string> };
    expect(root.links).not.toHaveProperty("admin");
  });
});

describe.each(["classic", "sharded"] as const)(
  "the admin view across two instances, %s adapter",
  (adapter) => {
    let redis: RedisServer;
    let one: TestApp;
    let two: TestApp;

    beforeAll(async () => {
      redis = await startRedis();
      const env = {
        ...ADMIN_ENV,
        REDIS_URL: redis.url,
        REDIS_ADAPTER: adapter,
        REDIS_KEY_PREFIX: `admin${randomBytes(4).toString("hex")}:`,
      };
      [one, two] = await Promise.all([
        startApp({ ...env, INSTANCE_ID: "one" }),
        startApp({ ...env, INSTANCE_ID: "two" }),
      ]);
    });
    afterAll(async () => {
      await Promise.all([one?.close(), two?.close()]);
      await redis?.destroy();
    });

    it("refuses a wrong password and an unknown user", async () => {
      expect(await outcome(adminSocket(one.url, { username: "ops", password: "wrong" }))).toEqual({
        connected: false,
        message: "invalid credentials",
      });
      expect(await outcome(adminSocket(one.url, { username: "root", password: PASSWORD }))).toEqual({
        connected: false,
        message: "invalid credentials",
      });
    });

    it("shows an admin connected to one instance the stats of both, read-only", async () => {
      for (const [app, users] of [
        [one, ["a1", "a2"]],
        [two, ["b1", "b2", "b3"]],
      ] as const) {
        for (const user of users) await connected(app.url, await tokenFor(user));
      }
      const admin = adminSocket(one.url, { username: "ops", password: PASSWORD });
      const latest = new Map<string, ServerStats>();
      admin.on("server_stats", (stats: ServerStats) => latest.set(stats.serverId, stats));
      const config = new Promise<{ supportedFeatures: string[] }>((resolve) => admin.once("config", resolve));
      expect(await outcome(admin)).toEqual({ connected: true });
      // No emit, join, leave or disconnect: only the aggregated stats.
      expect((await config).supportedFeatures).toEqual(["AGGREGATED_EVENTS"]);

      const sockets = (id: string) => latest.get(id)?.namespaces.find((n) => n.name === "/")?.socketsCount;
      await eventually(() => sockets("one") === 2 && sockets("two") === 3, 10_000, 100);
      expect(latest.get("one")?.namespaces.find((n) => n.name === "/admin")?.socketsCount).toBe(1);
    });

    it("accepts on the other instance a session opened on one", async () => {
      const first = adminSocket(one.url, { username: "ops", password: PASSWORD });
      const sessionId = new Promise<string>((resolve) => first.once("session", resolve));
      expect(await outcome(first)).toEqual({ connected: true });
      const elsewhere = adminSocket(two.url, { sessionId: await sessionId });
      expect(await outcome(elsewhere)).toEqual({ connected: true });
      expect(await outcome(adminSocket(two.url, { sessionId: "made-up" }))).toEqual({
        connected: false,
        message: "invalid credentials",
      });
    });
  },
);

describe("the admin view's page and login limit", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp(ADMIN_ENV);
  });
  afterAll(async () => {
    await t.close();
  });

  it("serves the admin UI at /admin/ and links it from GET /", async () => {
    const page = await fetch(`${t.url}/admin/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>Socket.IO Admin UI</title>");
    const root = (await (await fetch(`${t.url}/`)).json()) as { links: Record<string, string> };
    expect(root.links.admin).toBe("/admin/");
  });

  it("refuses an address that keeps trying to log in", async () => {
    const results = [];
    for (let i = 0; i < 12; i++)
      results.push(await outcome(adminSocket(t.url, { username: "ops", password: "guess" })));
    expect(results.slice(0, 10).every((r) => !r.connected && r.message === "invalid credentials")).toBe(true);
    expect(results.slice(10)).toEqual([
      { connected: false, message: "RATE_LIMITED" },
      { connected: false, message: "RATE_LIMITED" },
    ]);
    // The right password too, until the minute is over.
    expect(await outcome(adminSocket(t.url, { username: "ops", password: PASSWORD }))).toEqual({
      connected: false,
      message: "RATE_LIMITED",
    });
  });
});

describe("the admin view in development mode", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ ...ADMIN_ENV, ADMIN_UI_MODE: "development" });
  });
  afterAll(async () => {
    await t.close();
  });

  it("lists every socket with its handshake headers, tokens included (why production refuses it), and chat still works", async () => {
    const token = await tokenFor("dev-user", { rooms: ["team:*"] });
    const user = await connected(t.url, "", { auth: {}, extraHeaders: { authorization: `Bearer ${token}` } });
    const admin = adminSocket(t.url, { username: "ops", password: PASSWORD });
    const all = new Promise<
      { nsp: string; data: { user: { id: string } }; handshake: { headers: Record<string, string> } }[]
    >((resolve) => admin.once("all_sockets", resolve));
    const received: unknown[][] = [];
    admin.on("event_received", (...args: unknown[]) => received.push(args));
    expect(await outcome(admin)).toEqual({ connected: true });

    const listed = (await all).find((s) => s.nsp === "/");
    expect(listed?.data.user.id).toBe("dev-user");
    expect(listed?.handshake.headers.authorization).toBe(`Bearer ${token}`);

    const sent = await request(user, "chat:join", { roomId: "team:dev" });
    expect(sent.ok).toBe(true);
    const message = await request(user, "chat:send", { roomId: "team:dev", text: "seen by the admin" });
    expect(message.ok).toBe(true);
    await eventually(() => received.some((args) => JSON.stringify(args).includes("seen by the admin")), 5000);
  });
});
