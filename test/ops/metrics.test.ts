import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, request } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

const scrape = async (url: string, token?: string) => {
  const res = await fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
};

/** The value of one sample line, e.g. `rt_events_total{event="auth:refresh",outcome="ok"}`. */
const sample = (text: string, prefix: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
};

afterEach(() => closeAllClients());

describe("GET /metrics", () => {
  let redis: RedisServer;
  let t: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    t = await startApp({ REDIS_URL: redis.url });
  });
  afterAll(async () => {
    await t.close();
    await redis.destroy();
  });

  it("exposes connections, events by outcome, latency, Redis state and process metrics in Prometheus format", async () => {
    const socket = await connected(t.url, await tokenFor("m1"));
    await request(socket, "auth:refresh", { token: await tokenFor("m1") });
    await request(socket, "auth:refresh", { token: "" });
    // biome-ignore lint/suspicious/noExplicitAny: an event outside the contract, on purpose
    await (socket.timeout(2000) as any).emitWithAck("made:up", {});

    const { status, type, text } = await scrape(t.url);
    expect(status).toBe(200);
    expect(type).toContain("text/plain");
    expect(sample(text, "rt_sockets_connected ")).toBe(1);
    expect(sample(text, 'rt_connections_total{transport="websocket"}')).toBe(1);
    expect(sample(text, 'rt_events_total{event="auth:refresh",outcome="ok"}')).toBe(1);
    expect(sample(text, 'rt_events_total{event="auth:refresh",outcome="INVALID_PAYLOAD"}')).toBe(1);
    // A client-chosen event name never becomes a label value.
    expect(sample(text, 'rt_events_total{event="unknown",outcome="NOT_FOUND"}')).toBe(1);
    expect(text).not.toContain("made:up");
    expect(sample(text, 'rt_event_duration_seconds_count{event="auth:refresh"}')).toBe(2);
    expect(sample(text, 'rt_redis_up{role="command"}')).toBe(1);
    expect(sample(text, 'rt_redis_up{role="sub"}')).toBe(1);
    expect(text).toContain("process_resident_memory_bytes");
    expect(text).toContain("nodejs_eventloop_lag_seconds");

    socket.disconnect();
    await eventually(async () => {
      const after = await scrape(t.url);
      return (
        sample(after.text, 'rt_disconnections_total{reason="server namespace disconnect"}') === undefined &&
        sample(after.text, 'rt_disconnections_total{reason="client namespace disconnect"}') === 1
      );
    });
  });

  it("counts stored chat messages once, idempotent retries excluded", async () => {
    const socket = await connected(t.url, await tokenFor("m2", { rooms: ["team:*"] }));
    await request(socket, "chat:join", { roomId: "team:metrics" });
    const before = sample((await scrape(t.url)).text, "rt_chat_messages_stored_total ") ?? 0;
    for (let i = 0; i < 2; i++) {
      const res = await request(socket, "chat:send", {
        roomId: "team:metrics",
        text: "hi",
        clientMsgId: "once",
      });
      expect(res.ok).toBe(true);
    }
    await request(socket, "chat:send", { roomId: "team:metrics", text: "again" });
    expect(sample((await scrape(t.url)).text, "rt_chat_messages_stored_total ")).toBe(before + 2);
  });

  it("reports Redis down and not ready, and counts its errors while it is stopped", async () => {
    expect(sample((await scrape(t.url)).text, "rt_ready ")).toBe(1);
    await redis.stop();
    await eventually(
      async () => sample((await scrape(t.url)).text, 'rt_redis_up{role="command"}') === 0,
      3000,
    );
    expect(sample((await scrape(t.url)).text, "rt_ready ")).toBe(0);
    await eventually(
      async () => (sample((await scrape(t.url)).text, 'rt_redis_errors_total{role="command"}') ?? 0) > 0,
      3000,
    );
    await redis.start();
    await eventually(async () => sample((await scrape(t.url)).text, 'rt_redis_up{role="sub"}') === 1, 8000);
    await eventually(async () => sample((await scrape(t.url)).text, "rt_ready ") === 1, 8000);
  });
});

describe("GET /metrics with METRICS_TOKEN", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp({ METRICS_TOKEN: "metrics-secret-123" });
  });
  afterAll(async () => {
    await t.close();
  });

  it("refuses a scrape without the token or with a wrong one, and serves it with the token", async () => {
    expect((await scrape(t.url)).status).toBe(401);
    expect((await scrape(t.url, "wrong")).status).toBe(401);
    const ok = await scrape(t.url, "metrics-secret-123");
    expect(ok.status).toBe(200);
    expect(ok.text).toContain("rt_sockets_connected");
  });
});
