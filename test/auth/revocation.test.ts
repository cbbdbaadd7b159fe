import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApp } from "../helpers/app.js";
import { ChildServer } from "../helpers/child-server.js";
import {
  closeAllClients,
  connectError,
  connected,
  request,
  sleep,
  type TestSocket,
} from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

const API_KEY = "revocation-test-key-0123456789abcdef";

let redis: RedisServer;
const children: ChildServer[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  closeAllClients();
  await Promise.all(children.splice(0).map((c) => c.kill()));
});
afterAll(async () => {
  await redis.destroy();
});

/** Instances of one deployment: the same Redis and key prefix. */
function deployment() {
  const env = {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: `rv${randomBytes(4).toString("hex")}:`,
    INTERNAL_API_KEY: API_KEY,
  };
  return async () => {
    const child = await new ChildServer(env).start();
    children.push(child);
    return child;
  };
}

async function revoke(url: string, userId: string, body: Record<string, unknown> = {}) {
  const res = await fetch(`${url}/internal/users/${encodeURIComponent(userId)}/revoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const disconnection = (socket: TestSocket) =>
  new Promise<string>((resolve) => socket.once("disconnect", (reason) => resolve(reason)));

/** Connects a cut socket again with the token it had. */
async function reconnect(socket: TestSocket): Promise<void> {
  const back = new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", (err) => reject(err));
  });
  socket.connect();
  await back;
}

/** A token whose iat is a whole second after now: clearly issued after a revocation made now. */
async function tokenIssuedLater(sub: string) {
  await sleep(1100);
  return tokenFor(sub);
}

describe("POST /internal/users/:id/revoke", () => {
  it("cuts the user's live sockets on every instance and refuses their tokens everywhere", async () => {
    const start = deployment();
    const [a, b] = await Promise.all([start(), start()]);
    const token = await tokenFor("rita");
    const onA = await connected(a.url, token);
    const onB = await connected(b.url, token);
    // b has answered for rita once already: its cache must not keep accepting her token.
    const bystander = await connected(b.url, await tokenFor("sam"));
    const cuts = [disconnection(onA), disconnection(onB)];

    const res = await revoke(a.url, "rita");
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ userId: "rita", before: expect.any(Number) });
    expect(await Promise.all(cuts)).toEqual(["io server disconnect", "io server disconnect"]);
    expect(bystander.connected).toBe(true);

    for (const child of [a, b]) {
      const refused = await connectError(child.url, token);
      expect(refused.data).toMatchObject({ status: 401, code: "TOKEN_INVALID" });
    }
  });

  it("refuses a revoked token on an instance started after the revocation", async () => {
    const start = deployment();
    const a = await start();
    const token = await tokenFor("tess");
    expect((await revoke(a.url, "tess")).status).toBe(202);
    const fresh = await start();
    const refused = await connectError(fresh.url, token);
    expect(refused.data).toMatchObject({ code: "TOKEN_INVALID" });
  });

  it("refuses auth:refresh to a token issued before the revocation, and accepts one issued after it", async () => {
    const start = deployment();
    const [a, b] = await Promise.all([start(), start()]);
    const old = await tokenFor("uma");
    const before = Date.now();
    const newer = await tokenIssuedLater("uma");
    const socket = await connected(b.url, newer);

    const cut = disconnection(socket);
    expect((await revoke(a.url, "uma", { before })).status).toBe(202);
    await cut;
    // Its token was issued after `before`: the connection may come back at once.
    await reconnect(socket);
    const refused = await request(socket, "auth:refresh", { token: old });
    expect(refused).toMatchObject({ ok: false, error: { code: "TOKEN_INVALID" } });
    const accepted = await request(socket, "auth:refresh", { token: await tokenFor("uma") });
    expect(accepted).toMatchObject({ ok: true });
    expect((await connectError(a.url, old)).data).toMatchObject({ code: "TOKEN_INVALID" });
    const again = await connected(a.url, newer);
    expect(again.connected).toBe(true);
  });

  it("refuses the user's room tokens issued before the revocation, and accepts one issued after it", async () => {
    const a = await deployment()();
    const oldRoomToken = await tokenFor("wes", { room: "group:1" });
    const before = Date.now();
    const socket = await connected(a.url, await tokenIssuedLater("wes"));
    const cut = disconnection(socket);
    expect((await revoke(a.url, "wes", { before })).status).toBe(202);
    await cut;
    await reconnect(socket);
    const refused = await request(socket, "chat:join", { roomId: "group:1", token: oldRoomToken });
    expect(refused).toMatchObject({
      ok: false,
      error: { code: "TOKEN_INVALID", message: "the token was revoked" },
    });
    const fresh = await tokenFor("wes", { room: "group:1" });
    expect(await request(socket, "chat:join", { roomId: "group:1", token: fresh })).toMatchObject({
      ok: true,
    });
  });

  it("never moves a revocation backwards, and refuses a time in the future or a malformed one", async () => {
    const a = await deployment()();
    const first = await revoke(a.url, "vic");
    const earlier = await revoke(a.url, "vic", { before: Date.now() - 60_000 });
    expect(earlier.body.before).toBe(first.body.before);
    const future = await revoke(a.url, "vic", { before: Date.now() + 60_000 });
    expect(future.status).toBe(400);
    expect(future.body).toMatchObject({ error: { code: "INVALID_PAYLOAD" } });
    expect((await revoke(a.url, "vic", { before: "yesterday" })).status).toBe(400);
    const iso = await revoke(a.url, "vic", { before: new Date(Date.now() - 1000).toISOString() });
    expect(iso.status).toBe(202);
  });

  it("refuses a token it knows to be revoked while Redis is down, admits others, and revokes nothing (503)", async () => {
    const own = await startRedis();
    const app = await startApp({ REDIS_URL: own.url, INTERNAL_API_KEY: API_KEY });
    try {
      const old = await tokenFor("xia");
      expect((await revoke(app.url, "xia")).status).toBe(202);
      await own.stop();
      expect((await connectError(app.url, old)).data).toMatchObject({ code: "TOKEN_INVALID" });
      const other = await connected(app.url, await tokenFor("yan"));
      expect(other.connected).toBe(true);
      expect(app.logs.lines.some((l) => String(l.msg).startsWith("revocation not checked"))).toBe(true);
      // Nothing can be revoked meanwhile: 503, as the disconnect route answers.
      const refusedRevoke = await revoke(app.url, "yan");
      expect(refusedRevoke.status).toBe(503);
      expect(refusedRevoke.body).toMatchObject({ error: { code: "UNAVAILABLE" } });
    } finally {
      await app.close();
      await own.destroy();
    }
  });
});
