import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Message } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok, record, type TestSocket } from "../helpers/client.js";
import { Nginx } from "../helpers/nginx.js";
import { freePort, type RedisServer, startRedis } from "../helpers/redis-server.js";
import { systemBinaries } from "../helpers/system-binaries.js";
import { type SelfSignedCert, selfSignedCert } from "../helpers/tls.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * The load balancer example (deploy/nginx/socket-server.conf.template) in front of two
 * instances over one Redis: polling (sticky) and websocket clients, TLS at the balancer.
 */
const binaries = systemBinaries("the load balancer test (test/ops/nginx.test.ts)", "nginx", "openssl");

describe.skipIf(!binaries)("nginx in front of two instances", () => {
  let redis: RedisServer;
  let apps: TestApp[];
  let nginx: Nginx;
  let tls: SelfSignedCert;
  let httpUrl: string;
  let httpsUrl: string;

  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `lb${Date.now()}:` };
    apps = [await startApp({ ...env, INSTANCE_ID: "A" }), await startApp({ ...env, INSTANCE_ID: "B" })];
    tls = selfSignedCert(binaries?.openssl ?? "");
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    nginx = await new Nginx(binaries?.nginx ?? "", {
      SOCKET_UPSTREAM_A: new URL(apps[0]?.url ?? "").host,
      SOCKET_UPSTREAM_B: new URL(apps[1]?.url ?? "").host,
      LB_HTTP_PORT: String(httpPort),
      LB_HTTPS_PORT: String(httpsPort),
      LB_TLS_CERT: tls.certFile,
      LB_TLS_KEY: tls.keyFile,
    }).start();
    httpUrl = `http://127.0.0.1:${httpPort}`;
    httpsUrl = `https://127.0.0.1:${httpsPort}`;
  });
  afterEach(() => closeAllClients());
  afterAll(async () => {
    await nginx?.stop();
    for (const app of apps ?? []) await app.close();
    await redis?.destroy();
    tls?.remove();
  });

  /** Which instance holds the socket of `userId`. */
  const instanceOf = (userId: string): string | undefined =>
    apps.find((t) => [...t.app.io.of("/").sockets.values()].some((s) => s.data.user.id === userId))?.app
      .instanceId;

  /**
   * Clients with different `lb` values until one lands on each instance (the balancer
   * hashes the client address plus `lb`; every test client has the same address).
   */
  async function oneOnEach(
    url: string,
    transports: ("polling" | "websocket")[],
    extra: object = {},
  ): Promise<[TestSocket, TestSocket]> {
    const byInstance = new Map<string, TestSocket>();
    for (let lb = 0; lb < 40 && byInstance.size < 2; lb++) {
      const userId = `${transports.join("-")}-${lb}`;
      const socket = await connected(url, await tokenFor(userId, { rooms: ["team:*"] }), {
        transports,
        query: { lb: String(lb) },
        ...extra,
      });
      await eventually(() => instanceOf(userId) !== undefined, 2000);
      const instance = instanceOf(userId) as string;
      if (byInstance.has(instance)) socket.disconnect();
      else byInstance.set(instance, socket);
    }
    expect([...byInstance.keys()].sort()).toEqual(["A", "B"]);
    return [...byInstance.values()] as [TestSocket, TestSocket];
  }

  async function chatsAcross([one, two]: [TestSocket, TestSocket], roomId: string) {
    await ok(one, "chat:join", { roomId });
    await ok(two, "chat:join", { roomId });
    const seen = record(two, "chat:message");
    const sent: Message[] = [];
    for (let i = 0; i < 5; i++) sent.push(await ok(one, "chat:send", { roomId, text: `via nginx ${i}` }));
    await eventually(() => seen.length === 5);
    expect(seen.map((m) => m.id)).toEqual(sent.map((m) => m.id));
  }

  it("serves /health and /ready through the balancer", async () => {
    const res = await fetch(`${httpUrl}/ready`);
    expect(res.status).toBe(200);
    expect(["A", "B"]).toContain(((await res.json()) as { instanceId: string }).instanceId);
  });

  it("keeps polling sessions sticky and chats across instances over polling", async () => {
    await chatsAcross(await oneOnEach(httpUrl, ["polling"]), "team:polling");
  });

  it("chats across instances over websocket, upgrade headers passed through", async () => {
    await chatsAcross(await oneOnEach(httpUrl, ["websocket"]), "team:websocket");
  });

  it("upgrades a polling session to websocket on the instance that holds it", async () => {
    const pair = await oneOnEach(httpUrl, ["polling", "websocket"]);
    await eventually(() => pair.every((s) => s.io.engine.transport.name === "websocket"), 5000);
    await chatsAcross(pair, "team:upgrade");
  });

  it("does not forward /metrics or /internal/* to the instances, however the path is spelled", async () => {
    const blocked = [
      ["GET", "/metrics"],
      ["GET", "/METRICS"],
      ["GET", "/metrics/"],
      ["GET", "/%6detrics"],
      ["GET", "/socket.io/../metrics"],
      ["POST", "/internal/notifications"],
      ["POST", "/Internal/users/u1/disconnect"],
      ["POST", "//internal/notifications"],
    ];
    for (const [method, path] of blocked) {
      for (const base of [httpUrl, httpsUrl]) {
        const status = await rawStatus(`${base}${path}`, method as string);
        expect(status, `${method} ${base}${path}`).toBe(404);
      }
    }
    // Served on the instances themselves (the private side).
    expect((await fetch(`${apps[0]?.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${httpUrl}/health`)).status).toBe(200);
  });

  it("passes the Host on, so a page served through the balancer may connect (same origin)", async () => {
    for (const transports of [["websocket"], ["polling"]] as ("polling" | "websocket")[][]) {
      const socket = await connected(httpUrl, await tokenFor(`page-${transports[0]}`), {
        transports,
        extraHeaders: { origin: httpUrl },
      });
      expect(socket.connected).toBe(true);
    }
    const own = await fetch(`${httpUrl}/health`, { headers: { origin: httpUrl } });
    expect(own.headers.get("access-control-allow-origin")).toBe(httpUrl);
  });

  it("terminates TLS: wss:// clients chat across instances", async () => {
    await chatsAcross(await oneOnEach(httpsUrl, ["websocket"], { ca: tls.cert }), "team:wss");
  });
});

/** The status of a request sent with its path exactly as written (fetch would normalise `..` and `%6d`). */
function rawStatus(url: string, method: string): Promise<number> {
  const { protocol, hostname, port } = new URL(url);
  const path = url.slice(url.indexOf("/", protocol.length + 2));
  return new Promise((resolve, reject) => {
    const req = (protocol === "https:" ? httpsRequest : httpRequest)(
      {
        host: hostname,
        port,
        method,
        path,
        rejectUnauthorized: false,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end(method === "POST" ? "{}" : undefined);
  });
}
