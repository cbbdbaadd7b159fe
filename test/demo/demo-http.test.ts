import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { featureBuilders } from "../../src/features.js";
import { ConfigError, loadConfig } from "../../src/infra/config.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok, record, request } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

describe("demo endpoints", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp({ DEMO_ENABLED: "true" });
  });
  afterEach(() => closeAllClients());
  afterAll(async () => {
    await app.close();
  });

  it("mints a token the socket server accepts, for the demo rooms only", async () => {
    const res = await post(`${app.url}/demo/token`, { name: "Alice_1" });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.body).toMatchObject({ userId: "alice_1", token: expect.any(String) });
    expect(res.body.exp).toBeGreaterThan(Date.now() / 1000 + 3500);
    expect(res.body.exp).toBeLessThanOrEqual(Date.now() / 1000 + 3601);

    const socket = await connected(app.url, res.body.token);
    const joined = await ok(socket, "chat:join", { roomId: "demo:lobby" });
    expect(joined.online).toEqual(["alice_1"]);
    const sent = await ok(socket, "chat:send", { roomId: "demo:lobby", text: "hi" });
    expect(sent).toMatchObject({ senderId: "alice_1", senderName: "Alice_1" });
    const elsewhere = await request(socket, "chat:join", { roomId: "team:core" });
    expect(elsewhere).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
  });

  it("refuses names outside 1..32 letters, digits, _ and - with INVALID_PAYLOAD naming the field", async () => {
    for (const body of [
      { name: "a b" },
      { name: "" },
      { name: "x".repeat(33) },
      { name: "<script>" },
      {},
      [],
    ]) {
      const res = await post(`${app.url}/demo/token`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatchObject({
        code: "INVALID_PAYLOAD",
        fields: [expect.objectContaining({})],
      });
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/);
    }
  });

  it("sends a test notification to the caller only, authenticated with the caller's own token", async () => {
    const { token } = (await post(`${app.url}/demo/token`, { name: "bob" })).body as { token: string };
    const bob = await connected(app.url, token);
    const carol = await connected(app.url, await tokenFor("carol"));
    const bobGot = record(bob, "notification:new");
    const carolGot = record(carol, "notification:new");

    const res = await post(`${app.url}/demo/notify`, { text: "ping" }, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: expect.any(String) });
    await eventually(() => bobGot.length === 1);
    expect(bobGot[0]).toMatchObject({
      id: res.body.id,
      type: "demo.test",
      title: "Test notification",
      body: "ping",
    });
    // The same path, once more for carol's connection to have had the time to receive anything.
    await post(`${app.url}/demo/notify`, {}, { authorization: `Bearer ${token}` });
    await eventually(() => bobGot.length === 2);
    expect(carolGot).toEqual([]);
  });

  it("refuses /demo/notify without a valid token", async () => {
    const none = await post(`${app.url}/demo/notify`, {});
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe("UNAUTHORIZED");
    expect(none.headers.get("www-authenticate")).toBe("Bearer");
    const forged = await post(`${app.url}/demo/notify`, {}, { authorization: "Bearer not.a.token" });
    expect(forged.status).toBe(401);
    expect(forged.body.error.code).toBe("TOKEN_INVALID");
    const expired = await tokenFor("bob", {}, { expiresIn: -60 });
    const late = await post(`${app.url}/demo/notify`, {}, { authorization: `Bearer ${expired}` });
    expect(late.body.error.code).toBe("TOKEN_EXPIRED");
    const tooLong = await post(
      `${app.url}/demo/notify`,
      { text: "x".repeat(201) },
      { authorization: `Bearer ${await tokenFor("bob")}` },
    );
    expect(tooLong.status).toBe(400);
  });

  it("rate limits token minting per client address", async () => {
    const own = await startApp({ DEMO_ENABLED: "true" });
    try {
      const statuses: number[] = [];
      let limited: Awaited<ReturnType<typeof post>> | undefined;
      for (let i = 0; i < 21; i++) {
        const res = await post(`${own.url}/demo/token`, { name: `user${i}` });
        statuses.push(res.status);
        if (res.status === 429) limited = res;
      }
      expect(statuses.slice(0, 20).every((s) => s === 200)).toBe(true);
      expect(statuses[20]).toBe(429);
      expect(limited?.body.error).toMatchObject({ code: "RATE_LIMITED", retryAfterMs: expect.any(Number) });
      expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThan(0);
    } finally {
      await own.close();
    }
  });
});

describe("demo availability", () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  const start = async (...args: Parameters<typeof startApp>) => {
    const app = await startApp(...args);
    apps.push(app);
    return app;
  };

  it("serves the page under a strict content security policy", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rt-demo-"));
    writeFileSync(join(dir, "index.html"), "<!doctype html><title>demo</title>");
    try {
      const app = await start({}, (config, shared) => [
        featureBuilders(config, shared).demo(
          { notifications: { publish: () => Promise.reject(new Error("unused")) } },
          dir,
        ),
      ]);
      const page = await fetch(`${app.url}/demo/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("<title>demo</title>");
      const csp = page.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'self'");
      expect(csp).not.toContain("unsafe-inline");
      expect(csp).toContain("frame-ancestors 'none'");
      const bare = await fetch(`${app.url}/demo`, { redirect: "manual" });
      expect(bare.status).toBe(301);
      expect(bare.headers.get("location")).toBe("/demo/");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("says how to build the page when it has not been built", async () => {
    const empty = mkdtempSync(join(tmpdir(), "rt-demo-"));
    try {
      const app = await start({}, (config, shared) => [
        featureBuilders(config, shared).demo(
          { notifications: { publish: () => Promise.reject(new Error("unused")) } },
          empty,
        ),
      ]);
      const res = await fetch(`${app.url}/demo/`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({
        error: { code: "UNAVAILABLE", message: expect.stringMatching(/npm run build/) },
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("does not exist at all with DEMO_ENABLED=false", async () => {
    const app = await start({ DEMO_ENABLED: "false" });
    expect((await fetch(`${app.url}/demo/`)).status).toBe(404);
    expect((await post(`${app.url}/demo/token`, { name: "alice" })).status).toBe(404);
    expect((await post(`${app.url}/demo/notify`, {})).status).toBe(404);
  });

  it("cannot mint tokens when tokens are verified with a public key", async () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
    const app = await start({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: pem, DEMO_ENABLED: "true" });
    const res = await post(`${app.url}/demo/token`, { name: "alice" });
    expect(res.status).toBe(404);
    expect(res.body.error.message).toMatch(/JWT_SECRET/);
  });

  it("is on by default outside production, off in production, and refused there when asked for", () => {
    expect(loadConfig({}).demo.enabled).toBe(true);
    expect(loadConfig({ DEMO_ENABLED: "false" }).demo.enabled).toBe(false);
    const production = {
      NODE_ENV: "production",
      JWT_SECRET: "p".repeat(40),
      CORS_ORIGINS: "https://app.example",
    };
    expect(loadConfig(production).demo.enabled).toBe(false);
    let problems: string[] = [];
    try {
      loadConfig({ ...production, DEMO_ENABLED: "true" });
    } catch (err) {
      if (err instanceof ConfigError) problems = err.problems;
    }
    expect(problems).toEqual([expect.stringMatching(/^DEMO_ENABLED: /)]);
    expect(() => loadConfig({ DEMO_ENABLED: "yes" })).toThrow(/DEMO_ENABLED/);
  });
});
