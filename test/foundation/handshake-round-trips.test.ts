import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connectClient, nextEvent, type TestSocket } from "../helpers/client.js";
import { RedisLinkProxy } from "../helpers/redis-link-proxy.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * A handshake waits for Redis once: the per-address count, the per-user cap with the
 * connection's registration and presence, and the unread count leave in one write on the
 * command link, and the user room's subscription (sharded pub/sub, Redis 7) alongside on
 * the subscriber link. Counted on the links themselves (a proxy that sees what the
 * instance sends and hears), with a delay on them so that "sent before the reply came
 * back" cannot be a matter of luck.
 */

let redis: RedisServer;
let proxy: RedisLinkProxy;
const apps: TestApp[] = [];

beforeAll(async () => {
  redis = await startRedis();
  proxy = await new RedisLinkProxy({ port: redis.port }).start();
});
afterEach(async () => {
  closeAllClients();
  await Promise.all(apps.splice(0).map((a) => a.close()));
  proxy.resume("cmd");
  proxy.resume("sub");
});
afterAll(async () => {
  await proxy?.stop();
  await redis?.destroy();
});

async function start(env: Record<string, string> = {}): Promise<TestApp> {
  const app = await startApp({
    REDIS_URL: proxy.url,
    REDIS_KEY_PREFIX: `rt${randomBytes(4).toString("hex")}:`,
    // Heartbeats every 20 minutes: nothing but the handshake on the links while it is counted.
    PRESENCE_TTL_MS: "3600000",
    ...env,
  });
  apps.push(app);
  return app;
}

/** Connects and waits for the connection and its unread count (read during the handshake). */
async function connectWithUnread(url: string, userId: string): Promise<TestSocket> {
  const socket = connectClient(url, await tokenFor(userId));
  const unread = nextEvent(socket, "notification:unread");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
  await unread;
  return socket;
}

describe("the handshake's Redis round trips", () => {
  for (const adapter of ["sharded", "classic"] as const) {
    it(`is one on the command link, with every handshake command in it (${adapter} adapter)`, async () => {
      const t = await start({ REDIS_ADAPTER: adapter });
      // The first use of each script on the connection loads it (EVALSHA, then EVAL).
      await connectWithUnread(t.url, "warm-up");
      proxy.delay("cmd", 40);
      proxy.delay("sub", 40);
      proxy.record();
      await connectWithUnread(t.url, "counted");
      const traffic = proxy.traffic ?? [];
      expect(proxy.roundTrips("cmd")).toBe(1);
      expect(proxy.roundTrips("sub")).toBeLessThanOrEqual(1);
      const sent = traffic
        .filter((c) => c.role === "cmd" && c.direction === "up")
        .map((c) => c.text)
        .join("");
      expect(sent).toContain("connect-ip"); // the per-address counter
      expect(sent).toContain("presence:{counted}:conns"); // the per-user cap and registration
      expect(sent).toContain("notif:{counted}:unread"); // the unread count
      if (adapter === "sharded") {
        // The user room's subscription is sent once: the join waits for the adapter's own.
        const subscribed = traffic
          .filter((c) => c.role === "sub" && c.direction === "up")
          .map((c) => c.text)
          .join("");
        expect(subscribed.match(/ssubscribe/gi)).toHaveLength(1);
        expect(subscribed).toContain("user:counted");
      }
    });
  }
});
