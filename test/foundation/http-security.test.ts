import type { IncomingHttpHeaders } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { ALLOWED_ORIGIN, startApp, type TestApp } from "../helpers/app.js";

/** Helmet's headers, whatever answered: Express or Engine.IO. */
function expectHelmetHeaders(get: (name: string) => string | null | undefined, what: string): void {
  expect(get("x-content-type-options"), what).toBe("nosniff");
  expect(get("x-frame-options"), what).toBe("SAMEORIGIN");
  expect(get("strict-transport-security"), what).toContain("max-age=");
  expect(get("content-security-policy"), what).toContain("default-src 'self'");
  expect(get("x-powered-by"), what).toBeFalsy();
}

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
      expectHelmetHeaders((name) => res.headers.get(name), path);
    }
  });

  it("sends them on Socket.IO's responses too: polling handshake, polling requests, refusals, websocket upgrade", async () => {
    const polling = `${t.url}/socket.io/?EIO=4&transport=polling`;
    const handshake = await fetch(polling);
    expect(handshake.status).toBe(200);
    expectHelmetHeaders((name) => handshake.headers.get(name), "handshake");
    const { sid } = JSON.parse((await handshake.text()).slice(1)) as { sid: string };

    // The Socket.IO connect packet (no token: refused at the Socket.IO level, over a live session).
    const post = await fetch(`${polling}&sid=${sid}`, { method: "POST", body: "40" });
    expect(post.status).toBe(200);
    expectHelmetHeaders((name) => post.headers.get(name), "polling POST");
    const poll = await fetch(`${polling}&sid=${sid}`);
    expect(poll.status).toBe(200);
    expectHelmetHeaders((name) => poll.headers.get(name), "polling GET");

    const refused = await fetch(polling, { headers: { origin: "https://evil.example" } });
    expect(refused.status).toBe(400);
    expectHelmetHeaders((name) => refused.headers.get(name), "refused origin");

    const upgrade = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
      const ws = new WebSocket(`${t.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
      ws.once("upgrade", (res) => {
        resolve(res.headers);
        ws.close();
      });
      ws.once("error", reject);
    });
    expectHelmetHeaders((name) => upgrade[name] as string | undefined, "websocket upgrade");
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

  it("allows CORS for a page of the server's own origin, though CORS_ORIGINS does not list it", async () => {
    const own = await fetch(`${t.url}/health`, { headers: { origin: t.url } });
    expect(own.headers.get("access-control-allow-origin")).toBe(t.url);
    const port = Number(new URL(t.url).port);
    const otherPort = `http://127.0.0.1:${port === 65535 ? port - 1 : port + 1}`;
    const other = await fetch(`${t.url}/health`, { headers: { origin: otherPort } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
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
