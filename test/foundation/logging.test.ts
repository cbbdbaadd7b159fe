import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/infra/logger.js";
import { LogCapture, startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connectError, connected, eventually, request } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

describe("logging", () => {
  let t: TestApp;
  let token: string;

  beforeAll(async () => {
    t = await startApp({ INSTANCE_ID: "log-1", LOG_LEVEL: "debug" });
    token = await tokenFor("alice");
    const socket = await connected(t.url, token);
    await request(socket, "auth:refresh", { token });
    await connectError(t.url, `${token}tampered`);
    await connectError(t.url, undefined, { extraHeaders: { authorization: `Bearer ${token}x` } });
    await fetch(`${t.url}/health`);
    await fetch(`${t.url}/ready`);
    await fetch(`${t.url}/nope`, { headers: { authorization: `Bearer ${token}` } });
    closeAllClients();
    await eventually(() => t.logs.lines.some((l) => l.msg === "disconnected"));
  });
  afterAll(async () => {
    await t.close();
  });

  it("writes JSON lines that all carry the instance id", () => {
    expect(t.logs.lines.length).toBeGreaterThan(3);
    expect(t.logs.raw.length).toBe(t.logs.lines.length);
    for (const line of t.logs.lines) expect(line.instanceId).toBe("log-1");
  });

  it("logs connections and disconnections with socket id, user id and reason", () => {
    expect(t.logs.find((l) => l.msg === "connected")).toMatchObject({
      socketId: expect.any(String),
      userId: "alice",
      transport: "websocket",
    });
    expect(t.logs.find((l) => l.msg === "disconnected")).toMatchObject({
      socketId: expect.any(String),
      userId: "alice",
      reason: "client namespace disconnect",
    });
    expect(t.logs.find((l) => l.msg === "handshake refused")).toMatchObject({ code: "TOKEN_INVALID" });
  });

  it("never writes a token or an Authorization header", () => {
    const all = t.logs.raw.join("\n");
    expect(all).not.toContain(token.split(".")[2]);
    expect(all).not.toContain(token.split(".")[1]);
  });

  it("does not log health probes per request", () => {
    const all = t.logs.raw.join("\n");
    expect(all).not.toMatch(/\/health|\/ready/);
  });
});

describe("URLs in log lines", () => {
  it("never carry their credentials: in the message, in fields, in errors", async () => {
    const logs = new LogCapture();
    const logger = createLogger({ level: "info", instanceId: "redact-1", destination: logs }).child({
      module: "test",
    });
    const url = "rediss://default:s3cret-pw@cache.example:6380/0";
    const err = Object.assign(new Error(`cannot reach ${url}`), { input: url });
    const fields = { url, err };
    logger.warn(fields, `connecting to ${url}`);
    logger.error({ err: err.message }, "failed");
    logger.info(`plain ${url}`);
    await eventually(() => logs.lines.length === 3);
    expect(logs.raw.join("\n")).not.toContain("s3cret");
    expect(logs.lines[0]).toMatchObject({
      msg: "connecting to rediss://[redacted]@cache.example:6380/0",
      url: "rediss://[redacted]@cache.example:6380/0",
      err: { message: "cannot reach rediss://[redacted]@cache.example:6380/0" },
    });
    // The object a caller logged is left as it was.
    expect(fields.url).toBe(url);
  });
});
