import { afterEach, describe, expect, it } from "vitest";
import { ChildServer } from "../helpers/child-server.js";
import { closeAllClients, connectError, connected, nextEvent } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

describe("graceful shutdown (SIGTERM to the built server)", () => {
  let server: ChildServer | undefined;
  let redis: RedisServer | undefined;

  afterEach(async () => {
    closeAllClients();
    await server?.kill();
    await redis?.destroy();
    server = undefined;
    redis = undefined;
  });

  it("drains: /ready 503, clients told to reconnect, new connections refused, exit 0 within the grace", async () => {
    redis = await startRedis();
    server = await new ChildServer({ REDIS_URL: redis.url, SHUTDOWN_GRACE_MS: "1500" }).start();
    const socket = await connected(server.url, await tokenFor("alice"));
    const told = nextEvent(socket, "server:shutdown");
    const closed = new Promise<string>((resolve) => socket.once("disconnect", resolve));

    const started = Date.now();
    const exit = server.signal("SIGTERM");
    expect(await told).toEqual({ reconnect: true });

    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ reason: "draining" });
    const refused = await connectError(server.url, await tokenFor("late"));
    expect(refused.message).toMatch(/websocket error|server is shutting down/);

    expect(await closed).toBe("io server disconnect");
    expect(await exit).toBe(0);
    // Grace (1.5 s) plus closing Redis and the process exit; far below the double.
    expect(Date.now() - started).toBeLessThan(3000);
    expect(server.lines.some((l) => l.msg === "stopped")).toBe(true);
  });

  it("exits 0 at once when no client is connected", async () => {
    server = await new ChildServer({ SHUTDOWN_GRACE_MS: "10000" }).start();
    const started = Date.now();
    expect(await server.signal("SIGINT")).toBe(0);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
