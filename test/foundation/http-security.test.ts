import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALLOWED_ORIGIN, startApp, type TestApp } from "../helpers/app.js";

describe("HTTP surface", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it("sends Helmet security headers on every response, 404s included", async () => {
    for (const path of ["/health", "/ready", "/nope"]) {
      const res = await fetch(`${t.url}${path}`);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("x-frame-options")).toBe("SAMEORIGIN");
      expect(res.headers.get("strict-transport-security")).toContain("max-age=");
      expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
      expect(res.headers.get("x-powered-by")).toBeNull();
    }
  });

  it("allows CORS for a configured origin only", async () => {
    const allowed = await fetch(`${t.url}/health`, { headers: { origin: ALLOWED_ORIGIN } });
    expect(allowed.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);

    const preflight = await fetch(`${t.url}/health`, {
      method: "OPTIONS",
      headers: { origin: ALLOWED_ORIGIN, "access-control-request-method": "GET" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);

    const foreign = await fetch(`${t.url}/health`, { headers: { origin: "https://evil.example" } });
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("answers unknown routes with a JSON 404", async () => {
    const res = await fetch(`${t.url}/does/not/exist`);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual({
      error: { code: "NOT_FOUND", message: "no route for GET /does/not/exist" },
    });
  });

  it("refuses a malformed JSON body with a JSON 400 and no stack trace", async () => {
    const res = await fetch(`${t.url}/anything`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"broken": ',
    });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      error: { code: "INVALID_PAYLOAD", message: "malformed request body" },
    });
    expect(text).not.toMatch(/at .*\.js|node_modules|SyntaxError/);
  });

  it("refuses a body over the limit with 413", async () => {
    const res = await fetch(`${t.url}/anything`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ blob: "x".repeat(300 * 1024) }),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      error: { code: "INVALID_PAYLOAD", message: "request body too large" },
    });
  });
});
