import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogThrottle } from "../../src/infra/log-throttle.js";
import { ALLOWED_ORIGIN, startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connectError, connected, eventually } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

describe("handshake Origin check (cross-site WebSocket hijacking)", () => {
  let t: TestApp;
  let token: string;

  beforeAll(async () => {
    t = await startApp();
    token = await tokenFor("alice");
  });
  afterEach(() => closeAllClients());
  afterAll(async () => {
    await t.close();
  });

  for (const transport of ["websocket", "polling"] as const) {
    it(`refuses a foreign Origin over ${transport}`, async () => {
      const err = await connectError(t.url, token, {
        transports: [transport],
        extraHeaders: { origin: "https://evil.example" },
      });
      expect(err.message).toMatch(/websocket error|xhr poll error|origin not allowed/);
      expect(t.app.io.of("/").sockets.size).toBe(0);
    });

    it(`accepts a configured Origin over ${transport}`, async () => {
      const socket = await connected(t.url, token, {
        transports: [transport],
        extraHeaders: { origin: ALLOWED_ORIGIN },
      });
      expect(socket.connected).toBe(true);
    });
  }

  it("refuses a foreign Origin on the websocket upgrade of a polling session", async () => {
    // The handshake itself comes without an Origin (allowed); the upgrade carries a foreign one.
    const socket = await connected(t.url, token, { transports: ["polling", "websocket"], upgrade: false });
    expect(socket.io.engine.transport.name).toBe("polling");
    const sid = socket.io.engine.id;
    const wsUrl = `${t.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket&sid=${sid}`;
    const { WebSocket } = await import("ws");
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(wsUrl, { headers: { origin: "https://evil.example" } });
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => {
        ws.close();
        resolve(101);
      });
      ws.on("error", () => {});
    });
    expect(status).toBe(400);
  });

  for (const transport of ["websocket", "polling"] as const) {
    it(`accepts an Origin naming the server's own host over ${transport}, though CORS_ORIGINS does not list it`, async () => {
      // Pages the service serves itself, and clients such as python-socketio that send their target as Origin.
      const socket = await connected(t.url, token, {
        transports: [transport],
        extraHeaders: { origin: t.url },
      });
      expect(socket.connected).toBe(true);
    });
  }

  it("accepts a same-origin websocket upgrade of a polling session", async () => {
    const socket = await connected(t.url, token, {
      transports: ["polling", "websocket"],
      extraHeaders: { origin: t.url },
    });
    await eventually(() => socket.io.engine.transport.name === "websocket");
    expect(socket.connected).toBe(true);
  });

  it("refuses an Origin on the same host but another port", async () => {
    const port = Number(new URL(t.url).port);
    const err = await connectError(t.url, token, {
      transports: ["websocket"],
      extraHeaders: { origin: `http://127.0.0.1:${port === 65535 ? port - 1 : port + 1}` },
    });
    expect(err.message).toMatch(/websocket error/);
  });

  it("logs refused origins at warn with a hint naming CORS_ORIGINS, at most 10 lines a minute", async () => {
    const refusals = () =>
      t.logs.lines.filter(
        (l) => l.module === "origin" && l.level === "warn" && String(l.msg).includes("CORS_ORIGINS"),
      );
    const before = refusals().length;
    for (let i = 0; i < 15; i++) {
      await connectError(t.url, token, {
        transports: ["polling"],
        extraHeaders: { origin: `https://flood-${i}.example` },
      });
    }
    await eventually(() => refusals().length > before);
    expect(refusals().length).toBeLessThanOrEqual(10);
    expect(refusals().at(-1)).toMatchObject({
      origin: expect.stringMatching(/^https:\/\/flood-\d+\.example$/),
    });
  });

  it("accepts clients that send no Origin (backends, native apps)", async () => {
    const socket = await connected(t.url, token);
    expect(socket.connected).toBe(true);
  });
});

describe("the refused-origin log's throttle", () => {
  it("lets 10 lines through per minute, then says how many it left out", () => {
    let now = 0;
    const throttle = createLogThrottle({ max: 10, intervalMs: 60_000, now: () => now });
    const logged: number[] = [];
    for (let i = 0; i < 25; i++) throttle((suppressed) => logged.push(suppressed));
    expect(logged).toEqual(Array(10).fill(0));
    now = 59_999;
    throttle((suppressed) => logged.push(suppressed));
    expect(logged).toHaveLength(10);
    now = 60_000;
    throttle((suppressed) => logged.push(suppressed));
    expect(logged.at(-1)).toBe(16);
  });
});
