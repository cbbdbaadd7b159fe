import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ALLOWED_ORIGIN, startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connectError, connected } from "../helpers/client.js";
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

  it("accepts clients that send no Origin (backends, native apps)", async () => {
    const socket = await connected(t.url, token);
    expect(socket.connected).toBe(true);
  });
});
