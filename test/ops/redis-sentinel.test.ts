import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok, record } from "../helpers/client.js";
import { freePort, type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

/** REDIS_MODE=sentinel: the instances find the master through a real redis-sentinel. */
describe("two instances through Redis Sentinel", () => {
  let master: RedisServer;
  let sentinel: ChildProcess;
  let sentinelPort: number;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    master = await startRedis();
    sentinelPort = await freePort();
    const conf = join(master.dir, "sentinel.conf");
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        "bind 127.0.0.1",
        `dir ${master.dir}`,
        `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
        "sentinel down-after-milliseconds mymaster 2000",
      ].join("\n"),
    );
    sentinel = spawn("redis-server", [conf, "--sentinel"], { stdio: "ignore" });
    // Ready once the sentinel answers with the master's address.
    const asker = new Redis({
      port: sentinelPort,
      host: "127.0.0.1",
      maxRetriesPerRequest: 1,
      lazyConnect: true,
    });
    asker.on("error", () => {});
    await eventually(
      async () => {
        const addr = await asker.call("SENTINEL", "get-master-addr-by-name", "mymaster").catch(() => null);
        return Array.isArray(addr) && addr[1] === String(master.port);
      },
      5000,
      100,
    );
    asker.disconnect();
    const env = {
      REDIS_MODE: "sentinel",
      REDIS_URL: `redis://127.0.0.1:${master.port}`,
      REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
      REDIS_SENTINEL_NAME: "mymaster",
      REDIS_KEY_PREFIX: `se${Date.now()}:`,
    };
    a = await startApp({ ...env, INSTANCE_ID: "A" });
    b = await startApp({ ...env, INSTANCE_ID: "B" });
  });
  afterAll(async () => {
    closeAllClients();
    await a?.close();
    await b?.close();
    sentinel?.kill("SIGKILL");
    await master?.destroy();
  });

  it("is ready in sentinel mode and chats across instances", async () => {
    for (const t of [a, b]) {
      expect((await fetch(`${t.url}/ready`)).status).toBe(200);
      expect(t.logs.find((l) => l.msg === "redis adapter")).toMatchObject({ mode: "sentinel" });
    }
    const alice = await connected(a.url, await tokenFor("alice", { rooms: ["team:*"] }));
    const bob = await connected(b.url, await tokenFor("bob", { rooms: ["team:*"] }));
    await ok(alice, "chat:join", { roomId: "team:sentinel" });
    await ok(bob, "chat:join", { roomId: "team:sentinel" });
    const seen = record(bob, "chat:message");
    const sent = await ok(alice, "chat:send", { roomId: "team:sentinel", text: "found the master" });
    await eventually(() => seen.length === 1);
    expect(seen[0]?.id).toBe(sent.id);
  });
});
