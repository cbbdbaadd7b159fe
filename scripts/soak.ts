/**
 * `npm run soak -- --minutes N`: a bounded soak with connection churn against two built
 * instances (dist/main.js) on one private redis-server. Prints, every `--every` seconds,
 * each instance's sockets, heap and RSS, and the Redis keys by kind; at the end it waits
 * for the grace windows to pass and checks that every per-connection structure is back
 * to its size before the churn (exit 1 if not). How to read it: docs/reliability.md.
 *
 * Options: --minutes (1) --rate sessions/s (20) --residents (40) --users (200) --every s (10)
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { ChildServer } from "../test/helpers/child-server.js";
import { closeAllClients, connected, ok, sleep } from "../test/helpers/client.js";
import { RedisServer } from "../test/helpers/redis-server.js";
import { tokenFor } from "../test/helpers/tokens.js";
import { churnSession, RETURNING, type RedisCensus, redisCensus } from "../test/reliability/churn.js";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "1" },
    rate: { type: "string", default: "20" },
    residents: { type: "string", default: "40" },
    users: { type: "string", default: "200" },
    every: { type: "string", default: "10" },
  },
});
const num = (name: keyof typeof values, min: number) => {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value < min) {
    console.error(`--${name} must be a number >= ${min}`);
    process.exit(2);
  }
  return value;
};
const minutes = num("minutes", 0.1);
const rate = num("rate", 1);
const residents = Math.floor(num("residents", 0));
const users = Math.floor(num("users", 1));
const everyMs = num("every", 1) * 1000;

const ROOMS = Array.from({ length: 10 }, (_, i) => `team:soak${i}`);
const GRACE_MS = 1000;
const TTL_MS = 3000;

interface InstanceSample {
  sockets: number;
  heapMb: number;
  rssMb: number;
}

async function sample(server: ChildServer): Promise<InstanceSample> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const metric = (name: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return Number(line?.split(" ")[1] ?? Number.NaN);
  };
  return {
    sockets: metric("rt_sockets_connected"),
    heapMb: metric("nodejs_heap_size_used_bytes") / 2 ** 20,
    rssMb: metric("process_resident_memory_bytes") / 2 ** 20,
  };
}

const pad = (value: string | number, width: number) => String(value).padStart(width);
const mb = (value: number) => value.toFixed(1);

function header(): void {
  console.log(
    [
      pad("t(s)", 6),
      pad("sessions ok/fail", 17),
      pad("sockets A/B", 12),
      pad("heap MB A/B", 14),
      pad("rss MB A/B", 14),
      pad("keys", 7),
      pad("rl", 6),
      pad("rl.ip", 6),
      pad("p.conns", 8),
      pad("p.inst", 7),
      pad("p.grace", 8),
      pad("p.users", 8),
      pad("members", 8),
      pad("streams", 8),
      pad("idem", 7),
    ].join(" "),
  );
}

function row(t: number, sessions: string, a: InstanceSample, b: InstanceSample, c: RedisCensus): void {
  console.log(
    [
      pad(t.toFixed(0), 6),
      pad(sessions, 17),
      pad(`${a.sockets}/${b.sockets}`, 12),
      pad(`${mb(a.heapMb)}/${mb(b.heapMb)}`, 14),
      pad(`${mb(a.rssMb)}/${mb(b.rssMb)}`, 14),
      pad(c.totalKeys, 7),
      pad(c.rateLimitKeys, 6),
      pad(c.addressLimitKeys, 6),
      pad(c.presenceConnections, 8),
      pad(c.presenceInstanceEntries, 7),
      pad(c.presencePending, 8),
      pad(c.presenceStates, 8),
      pad(c.chatMembers, 8),
      pad(c.chatStreams, 8),
      pad(c.chatIdempotencyKeys, 7),
    ].join(" "),
  );
}

async function main(): Promise<void> {
  execFileSync(process.execPath, ["scripts/ensure-build.mjs"], { stdio: "inherit" });
  const redis = await new RedisServer().start();
  const prefix = `soak${randomBytes(3).toString("hex")}:`;
  const env = {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: prefix,
    // As production runs (the start-up waits for the "listening" line); print() drops the captured lines.
    LOG_LEVEL: "info",
    PRESENCE_GRACE_MS: String(GRACE_MS),
    PRESENCE_TTL_MS: String(TTL_MS),
    RATE_CHAT_SEND_PER_SEC: "1000",
    RATE_CHAT_SEND_BURST: "1000",
    RATE_CHAT_JOIN_PER_SEC: "1000",
    RATE_CHAT_TYPING_PER_SEC: "1000",
    RATE_PRESENCE_SUBSCRIBE_PER_SEC: "1000",
    MAX_CONNECTIONS_PER_USER: "1000",
  };
  const servers = [new ChildServer(env), new ChildServer(env)] as const;
  const census = redis.client();
  const cleanup = async () => {
    closeAllClients();
    census.disconnect();
    await Promise.all(servers.map((s) => s.kill()));
    await redis.destroy();
  };
  process.once("SIGINT", () => {
    console.log("interrupted");
    void cleanup().then(() => process.exit(130));
  });

  try {
    await Promise.all(servers.map((s) => s.start()));
    const urls = servers.map((s) => s.url);
    const userIds = Array.from({ length: users }, (_, i) => `soaker${i}`);
    console.log(
      `soak: ${minutes} min, ${rate} sessions/s over ${users} users, ${residents} residents, ` +
        `instances ${urls.join(" ")}, redis ${redis.url}, prefix ${prefix}`,
    );

    for (let i = 0; i < residents; i++) {
      const socket = await connected(
        urls[i % 2] as string,
        await tokenFor(`resident${i}`, { rooms: ["team:*"] }),
      );
      await ok(socket, "chat:join", { roomId: ROOMS[i % ROOMS.length] as string });
      await ok(socket, "presence:subscribe", { userIds: userIds.slice(0, 50) });
    }
    // Let the residents' rate-limit windows lapse: the baseline is the quiet state.
    await sleep(1500);
    const baseline = await redisCensus(census, prefix);
    const baseSamples = await Promise.all(servers.map(sample));
    header();
    const startedAt = Date.now();
    const print = async (sessions: string) => {
      for (const s of servers) {
        s.lines.length = 0;
        s.raw.length = 0;
      }
      const [a, b] = (await Promise.all(servers.map(sample))) as [InstanceSample, InstanceSample];
      row((Date.now() - startedAt) / 1000, sessions, a, b, await redisCensus(census, prefix));
      return [a, b] as const;
    };
    await print("0/0");

    let started = 0;
    let succeeded = 0;
    const failures = new Map<string, number>();
    const running = new Set<Promise<void>>();
    const endAt = startedAt + minutes * 60_000;
    let nextReport = startedAt + everyMs;
    while (Date.now() < endAt) {
      const n = started++;
      const session = churnSession({
        url: urls[n % 2] as string,
        userId: userIds[Math.floor(Math.random() * userIds.length)] as string,
        roomId: ROOMS[n % ROOMS.length] as string,
        watch: userIds.slice(0, 5),
        transport: n % 10 === 0 ? "polling" : "websocket",
        clientMsgId: `s${n}`,
      }).then(
        (refused) => {
          if (refused.length === 0) succeeded += 1;
          for (const r of refused) failures.set(r, (failures.get(r) ?? 0) + 1);
        },
        (err: unknown) => {
          const key = `connect ${(err as Error).message}`;
          failures.set(key, (failures.get(key) ?? 0) + 1);
        },
      );
      running.add(session);
      void session.finally(() => running.delete(session));
      if (Date.now() >= nextReport) {
        nextReport += everyMs;
        await print(`${succeeded}/${started - succeeded - running.size}`);
      }
      await sleep(1000 / rate);
    }
    await Promise.all(running);
    const failed = started - succeeded;
    await print(`${succeeded}/${failed}`);

    console.log(`churn stopped; waiting for the presence grace and the rate-limit windows to pass ...`);
    const deadline = Date.now() + GRACE_MS + TTL_MS + 5000;
    let settled = await redisCensus(census, prefix);
    while (Date.now() < deadline && RETURNING.some((k) => settled[k] !== baseline[k])) {
      await sleep(500);
      settled = await redisCensus(census, prefix);
    }
    const [endA, endB] = await print(`${succeeded}/${failed}`);

    console.log("\nafter churn, compared with before it:");
    let leaks = 0;
    for (const key of RETURNING) {
      const same = settled[key] === baseline[key];
      if (!same) leaks += 1;
      console.log(`  ${same ? "ok  " : "LEAK"} ${key}: ${baseline[key]} -> ${settled[key]}`);
    }
    const socketsBack = [endA, endB].every((s, i) => s.sockets === baseSamples[i]?.sockets);
    if (!socketsBack) leaks += 1;
    console.log(
      `  ${socketsBack ? "ok  " : "LEAK"} sockets: ${baseSamples.map((s) => s.sockets).join("/")} -> ${endA.sockets}/${endB.sockets}`,
    );
    console.log(
      `  info heap MB: ${baseSamples.map((s) => mb(s.heapMb)).join("/")} -> ${mb(endA.heapMb)}/${mb(endB.heapMb)}` +
        ` (no forced GC: compare the troughs over time, not two samples)`,
    );
    console.log(`  info sessions: ${succeeded} ok, ${failed} with a refusal or error`);
    for (const [reason, count] of failures) console.log(`       ${count} × ${reason}`);
    console.log(leaks === 0 ? "\nsoak: OK" : `\nsoak: ${leaks} structure(s) did not return to their size`);
    process.exitCode = leaks === 0 && failed === 0 ? 0 : 1;
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
