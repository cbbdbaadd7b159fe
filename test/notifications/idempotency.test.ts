import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, ok, sleep } from "../helpers/client.js";
import { RedisLinkProxy } from "../helpers/redis-link-proxy.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";
import { API_KEY, connectRecording, publish, uniquePrefix } from "./support.js";

/**
 * An idempotency key is written with the notification it created, in one step: whatever
 * an instance does not live to finish, a retry elsewhere answers the original and one key
 * never puts two notifications in an inbox.
 */
describe("idempotent publish across an instance that never finishes", () => {
  let redis: RedisServer;
  let proxy: RedisLinkProxy;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    proxy = await new RedisLinkProxy({ port: redis.port }).start();
    const env = { REDIS_KEY_PREFIX: uniquePrefix(), INTERNAL_API_KEY: API_KEY };
    a = await startApp({ ...env, REDIS_URL: proxy.url });
    b = await startApp({ ...env, REDIS_URL: redis.url });
  });
  afterAll(async () => {
    closeAllClients();
    proxy.resume("cmd");
    await Promise.all([a?.close(), b?.close()]);
    await proxy?.stop();
    await redis?.destroy();
  });

  it("creates one notification when the instance that stored it never hears back and the publisher retries", async () => {
    const kim = await connectRecording(b.url, await tokenFor("kim"), [
      "notification:new",
      "notification:unread",
    ]);
    const body = { userIds: ["kim"], type: "t", title: "shipped", idempotencyKey: "order-9-shipped" };
    // A's link to Redis goes silent once the notification is written: Redis has it, A never learns.
    proxy.holdRepliesFrom("cmd", "notif:{kim}:ids");
    const first = await publish(a.url, body);
    expect(first.status).toBe(503);
    // The publisher retries on another instance until it is answered.
    const deadline = Date.now() + 40_000;
    let retry = await publish(b.url, body);
    while (retry.status !== 202 && Date.now() < deadline) {
      await sleep(500);
      retry = await publish(b.url, body);
    }
    expect(retry.status).toBe(202);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    const listed = await ok(kim.socket, "notification:list", {});
    expect(listed.items.map((n) => n.title)).toEqual(["shipped"]);
    expect(listed.unreadCount).toBe(1);
    expect(retry.body.notifications).toEqual([{ userId: "kim", id: listed.items[0]?.id }]);
    // The device hears of it (again, with the same id): it may never have been sent.
    expect(kim.seen["notification:new"].map((n) => n.id)).toContain(listed.items[0]?.id);
  });
});
