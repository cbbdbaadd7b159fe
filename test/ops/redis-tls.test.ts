import { type ChildProcess, spawn } from "node:child_process";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChildServer } from "../helpers/child-server.js";
import { closeAllClients, connected, eventually, ok } from "../helpers/client.js";
import { freePort } from "../helpers/redis-server.js";
import { systemBinaries } from "../helpers/system-binaries.js";
import { type SelfSignedCert, selfSignedCert } from "../helpers/tls.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * REDIS_URL=rediss://: TLS to Redis, as ElastiCache's in-transit encryption requires. The
 * server trusts the test's certificate through NODE_EXTRA_CA_CERTS, as a deployment
 * trusting a private CA would.
 */
const binaries = systemBinaries("the Redis TLS test (test/ops/redis-tls.test.ts)", "openssl");

describe.skipIf(!binaries)("Redis over TLS (rediss://)", () => {
  let tls: SelfSignedCert;
  let redis: ChildProcess;
  let port: number;
  let server: ChildServer;

  beforeAll(async () => {
    tls = selfSignedCert(binaries?.openssl ?? "");
    port = await freePort();
    redis = spawn(
      "redis-server",
      [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        tls.certFile,
        "--tls-key-file",
        tls.keyFile,
        "--tls-ca-cert-file",
        tls.certFile,
        "--tls-auth-clients",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
      ],
      { stdio: "ignore" },
    );
    await eventually(
      async () => {
        const probe = new Redis({
          host: "127.0.0.1",
          port,
          tls: { ca: tls.cert },
          lazyConnect: true,
          retryStrategy: () => null,
        });
        probe.on("error", () => {});
        try {
          await probe.connect();
          return (await probe.ping()) === "PONG";
        } catch {
          return false;
        } finally {
          probe.disconnect();
        }
      },
      5000,
      100,
    );
    server = await new ChildServer({
      REDIS_URL: `rediss://127.0.0.1:${port}`,
      NODE_EXTRA_CA_CERTS: tls.certFile,
    }).start();
  });
  afterAll(async () => {
    closeAllClients();
    await server?.kill();
    redis?.kill("SIGKILL");
    tls?.remove();
  });

  it("connects, is ready, and stores and delivers chat messages over TLS", async () => {
    await eventually(async () => (await fetch(`${server.url}/ready`)).status === 200, 5000);
    const alice = await connected(server.url, await tokenFor("alice", { rooms: ["team:*"] }));
    await ok(alice, "chat:join", { roomId: "team:tls" });
    const sent = await ok(alice, "chat:send", { roomId: "team:tls", text: "encrypted in transit" });
    const bob = await connected(server.url, await tokenFor("bob", { rooms: ["team:*"] }));
    const joined = await ok(bob, "chat:join", { roomId: "team:tls" });
    expect(joined.messages.map((m) => m.id)).toEqual([sent.id]);
  });

  it("refuses a Redis whose certificate it does not trust (never falls back to plain text)", async () => {
    const untrusting = await new ChildServer({ REDIS_URL: `rediss://127.0.0.1:${port}` }).start();
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const res = await fetch(`${untrusting.url}/ready`);
      expect(res.status).toBe(503);
      expect(untrusting.raw.join("\n")).toMatch(/self[- ]signed certificate|unable to verify/i);
    } finally {
      await untrusting.kill();
    }
  });
});
