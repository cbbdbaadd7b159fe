/**
 * `npx tsx bench/redis-cost.ts`: Redis commands per chat message and per notification,
 * counted by Redis itself (INFO commandstats after CONFIG RESETSTAT), for both adapters,
 * with two instances and room members on both. The figures behind docs/scaling.md.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { startApp } from "../test/helpers/app.js";
import { closeAllClients, connected, eventually, ok, record } from "../test/helpers/client.js";
import { startRedis } from "../test/helpers/redis-server.js";
import { tokenFor } from "../test/helpers/tokens.js";
import { BENCH_DIR } from "./processes.js";

const MESSAGES = 500;
const MEMBERS_PER_INSTANCE = 5;
const API_KEY = "redis-cost-internal-api-key-0123456789";

type Stats = Record<string, number>;

async function commandStats(
  redis: ReturnType<Awaited<ReturnType<typeof startRedis>>["client"]>,
): Promise<Stats> {
  const info = await redis.info("commandstats");
  const stats: Stats = {};
  for (const line of info.split("\n")) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match?.[1]) stats[match[1]] = Number(match[2]);
  }
  return stats;
}

/**
 * Commands the service sends itself (each a network round trip, auto-pipelined); every
 * other command in commandstats ran inside one of its Lua scripts.
 */
const SENT = new Set(["evalsha", "eval", "publish", "spublish"]);

const perUnit = (stats: Stats, units: number): Stats =>
  Object.fromEntries(
    Object.entries(stats)
      .filter(([name]) => !name.startsWith("config") && !["info", "ping", "client"].includes(name))
      .filter(([, calls]) => calls / units >= 0.01)
      .map(([name, calls]) => [name, Math.round((calls / units) * 100) / 100]),
  );

async function measure(adapter: "classic" | "sharded") {
  const redis = await startRedis();
  const admin = redis.client();
  const env = {
    REDIS_URL: redis.url,
    REDIS_ADAPTER: adapter,
    INTERNAL_API_KEY: API_KEY,
    LOG_LEVEL: "warn",
    RATE_CHAT_SEND_PER_SEC: "100000",
    RATE_CHAT_SEND_BURST: "100000",
  };
  const apps = [await startApp(env), await startApp(env)];
  try {
    const members = [];
    for (const [i, app] of apps.entries()) {
      for (let m = 0; m < MEMBERS_PER_INSTANCE; m++) {
        const socket = await connected(app.url, await tokenFor(`u${i}-${m}`, { rooms: ["team:*"] }));
        await ok(socket, "chat:join", { roomId: "team:cost" });
        members.push(socket);
      }
    }
    const receiver = members[members.length - 1];
    if (!receiver) throw new Error("no members");
    const seen = record(receiver, "chat:message");
    // Let presence and membership settle, then count only the sends.
    await new Promise((r) => setTimeout(r, 500));
    await admin.config("RESETSTAT");
    const sender = members[0];
    if (!sender) throw new Error("no sender");
    for (let i = 0; i < MESSAGES; i++) await ok(sender, "chat:send", { roomId: "team:cost", text: `m${i}` });
    await eventually(() => seen.length === MESSAGES, 10_000);
    const chat = perUnit(await commandStats(admin), MESSAGES);

    await admin.config("RESETSTAT");
    const users = Array.from({ length: 100 }, (_, i) => `n${i}`);
    const res = await fetch(`${apps[0]?.url}/internal/notifications`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ userIds: users, type: "cost", title: "t" }),
    });
    if (res.status !== 202) throw new Error(`publish answered ${res.status}`);
    const notification = perUnit(await commandStats(admin), users.length);
    return { adapter, chatPerMessage: chat, notificationPerRecipient: notification };
  } finally {
    closeAllClients();
    for (const app of apps) await app.close();
    admin.disconnect();
    await redis.destroy();
  }
}

const results = [await measure("classic"), await measure("sharded")];
const sum = (stats: Stats, pick: (name: string) => boolean) =>
  Math.round(
    Object.entries(stats)
      .filter(([name]) => pick(name))
      .reduce((a, [, v]) => a + v, 0) * 100,
  ) / 100;
const describe = (stats: Stats) =>
  `${sum(stats, (n) => SENT.has(n))} sent (${Object.entries(stats)
    .filter(([n]) => SENT.has(n))
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")}); ${sum(stats, () => true)} executed (${Object.entries(stats)
    .filter(([n]) => !SENT.has(n))
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")} inside scripts)`;
const lines = [
  "# Redis commands per operation",
  "",
  `Counted by Redis (INFO commandstats), two instances, ${MEMBERS_PER_INSTANCE} room members on each, ${MESSAGES} messages; notifications: one publish to 100 users.`,
  "",
  "| adapter | per chat message | per notification recipient |",
  "| --- | --- | --- |",
  ...results.map(
    (r) => `| ${r.adapter} | ${describe(r.chatPerMessage)} | ${describe(r.notificationPerRecipient)} |`,
  ),
];
mkdirSync(`${BENCH_DIR}results`, { recursive: true });
writeFileSync(`${BENCH_DIR}results/redis-cost.md`, `${lines.join("\n")}\n`);
writeFileSync(`${BENCH_DIR}results/redis-cost.json`, `${JSON.stringify(results, null, 2)}\n`);
console.log(lines.join("\n"));
process.exit(0);
