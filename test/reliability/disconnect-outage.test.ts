import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { connected, eventually, type TestSocket } from "../helpers/client.js";
import { readyStatus } from "../helpers/ready.js";
import { startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";
import { useFaultFixture } from "./support.js";

/**
 * `POST /internal/users/:id/disconnect` cuts a user on every instance. While Redis is
 * down it cannot reach the other instances: it answers 503 UNAVAILABLE, and nothing it
 * was asked during the outage happens once Redis is back.
 */

const API_KEY = "disconnect-outage-internal-api-key-0123456789";

const fixture = useFaultFixture();

const disconnectUser = async (url: string, userId: string) => {
  const res = await fetch(`${url}/internal/users/${userId}/disconnect`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_KEY}` },
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
};

const gone = (socket: TestSocket) => new Promise<string>((resolve) => socket.once("disconnect", resolve));

describe.each(["sharded", "classic"])("user disconnect while Redis is down (%s adapter)", (adapter) => {
  it("answers 503 UNAVAILABLE, cuts nobody then or after Redis returns, and works again once it has", async () => {
    fixture.redis ??= await startRedis();
    const redis = fixture.redis;
    const [a, b] = await fixture.twoInstances({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `dco${randomBytes(4).toString("hex")}:`,
      REDIS_ADAPTER: adapter,
      INTERNAL_API_KEY: API_KEY,
    });
    const quinnA = await connected(a.url, await tokenFor("quinn"));
    const quinnB = await connected(b.url, await tokenFor("quinn"));
    const quinnCut = [gone(quinnA), gone(quinnB)];

    await redis.stop();
    await eventually(async () => (await readyStatus(a.url)) === 503 && (await readyStatus(b.url)) === 503);
    const during = await disconnectUser(a.url, "quinn");
    expect(during.status).toBe(503);
    expect(during.body.error?.code).toBe("UNAVAILABLE");

    await redis.start();
    await eventually(
      async () => (await readyStatus(a.url)) === 200 && (await readyStatus(b.url)) === 200,
      15_000,
    );
    // A marker through the same path: once it has reached both instances, anything queued
    // before it would have too.
    const ritaA = await connected(a.url, await tokenFor("rita"));
    const ritaB = await connected(b.url, await tokenFor("rita"));
    const ritaCut = [gone(ritaA), gone(ritaB)];
    expect((await disconnectUser(a.url, "rita")).status).toBe(202);
    expect(await Promise.all(ritaCut)).toEqual(["io server disconnect", "io server disconnect"]);
    expect([quinnA.connected, quinnB.connected]).toEqual([true, true]);

    expect((await disconnectUser(a.url, "quinn")).status).toBe(202);
    expect(await Promise.all(quinnCut)).toEqual(["io server disconnect", "io server disconnect"]);
  });
});
