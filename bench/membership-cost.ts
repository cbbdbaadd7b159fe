/**
 * `npx tsx bench/membership-cost.ts`: what room membership costs Redis, counted by Redis
 * itself (INFO commandstats after CONFIG RESETSTAT): while nothing happens (two instances,
 * each with members in ROOMS rooms, for IDLE_MS), and per room a member joins and leaves.
 * The figures behind docs/scaling.md (room membership and the instance registry).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { startApp } from "../test/helpers/app.js";
import { closeAllClients, connected, ok } from "../test/helpers/client.js";
import { startRedis } from "../test/helpers/redis-server.js";
import { tokenFor } from "../test/helpers/tokens.js";
import { BENCH_DIR } from "./processes.js";

const ROOMS = 200;
const TTL_MS = 3000;
const IDLE_MS = 15_000;
const JOINS = 100;

interface Stat {
  calls: number;
  usec: number;
}

async function commandStats(redis: ReturnType<Awaited<ReturnType<typeof startRedis>>["client"]>) {
  const info = await redis.info("commandstats");
  const stats: Record<string, Stat> = {};
  for (const line of info.split("\n")) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (match?.[1] && !["config", "info", "ping", "client"].some((n) => match[1]?.startsWith(n))) {
      stats[match[1]] = { calls: Number(match[2]), usec: Number(match[3]) };
    }
  }
  return stats;
}

const total = (stats: Record<string, Stat>, key: keyof Stat) =>
  Object.values(stats).reduce((sum, s) => sum + s[key], 0);

const redis = await startRedis();
const admin = redis.client();
const env = {
  REDIS_URL: redis.url,
  LOG_LEVEL: "warn",
  PRESENCE_TTL_MS: String(TTL_MS),
  RATE_CHAT_JOIN_PER_SEC: "100000",
};
const apps = [await startApp(env), await startApp(env)];
try {
  // One member per instance in every room: each room is held by both instances.
  for (const [i, app] of apps.entries()) {
    const socket = await connected(app.url, await tokenFor(`resident${i}`, { rooms: ["team:*"] }));
    for (let r = 0; r < ROOMS; r++) await ok(socket, "chat:join", { roomId: `team:r${r}` });
  }
  await admin.config("RESETSTAT");
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const idle = await commandStats(admin);

  // A member joining and leaving rooms nobody on its instance is in (the costlier case).
  const visitor = await connected(apps[0]?.url as string, await tokenFor("visitor", { rooms: ["team:*"] }));
  await admin.config("RESETSTAT");
  const started = Date.now();
  for (let r = 0; r < JOINS; r++) {
    await ok(visitor, "chat:join", { roomId: `team:v${r}` });
    await ok(visitor, "chat:leave", { roomId: `team:v${r}` });
  }
  const churnMs = Date.now() - started;
  const churn = await commandStats(admin);

  const perSecond = (n: number) => Math.round((n / IDLE_MS) * 1000 * 10) / 10;
  const lines = [
    "# Room membership: Redis work",
    "",
    `Counted by Redis (INFO commandstats), two instances, each with members in the same ${ROOMS} rooms, PRESENCE_TTL_MS ${TTL_MS}.`,
    "",
    `Idle for ${IDLE_MS / 1000} s: ${perSecond(total(idle, "calls"))} commands/s sent or run by scripts, ${perSecond(total(idle, "usec"))} µs of Redis CPU per second (${Object.entries(
      idle,
    )
      .map(([name, s]) => `${name} ${perSecond(s.calls)}/s`)
      .join(", ")}).`,
    "",
    `${JOINS} joins and leaves of rooms new to the instance (plus the history reads of a join): ${
      Math.round((total(churn, "calls") / JOINS) * 10) / 10
    } commands per join + leave (${Object.entries(churn)
      .map(([name, s]) => `${name} ${Math.round((s.calls / JOINS) * 100) / 100}`)
      .join(", ")}), ${churnMs} ms in all.`,
  ];
  mkdirSync(`${BENCH_DIR}results`, { recursive: true });
  writeFileSync(`${BENCH_DIR}results/membership-cost.md`, `${lines.join("\n")}\n`);
  console.log(lines.join("\n"));
} finally {
  closeAllClients();
  for (const app of apps) await app.close();
  admin.disconnect();
  await redis.destroy();
}
process.exit(0);
