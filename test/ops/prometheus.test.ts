import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { ChildServer } from "../helpers/child-server.js";
import {
  closeAllClients,
  connected,
  eventually,
  request,
  sleep,
  type TestSocket,
} from "../helpers/client.js";
import { checkTool, executableProblem, failIfMissing } from "../helpers/external-tools.js";
import { freePort, type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

const run = promisify(execFile);
const DEPLOY = fileURLToPath(new URL("../../deploy/", import.meta.url));
const RULES = join(DEPLOY, "prometheus/alerts.yml");
const RULE_TESTS = join(DEPLOY, "prometheus/alerts.test.yml");
const EXAMPLE_CONFIG = join(DEPLOY, "prometheus/prometheus.example.yml");
const DASHBOARD = join(DEPLOY, "grafana/realtime-socket-server.json");
const PROMETHEUS = process.env.PROMETHEUS_PATH ?? "/usr/bin/prometheus";
const PROMTOOL = process.env.PROMTOOL_PATH ?? "/usr/bin/promtool";
const JOB = "realtime-socket-server";
const METRICS_TOKEN = "prometheus-test-metrics-token";

const prometheus = checkTool(
  "the Prometheus rules and dashboard tests",
  executableProblem(PROMETHEUS, "apt-get install prometheus") ??
    executableProblem(PROMTOOL, "apt-get install prometheus"),
);

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
}
const rules = (): Rule[] =>
  (parse(readFileSync(RULES, "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

/** An alert is `<signal> <comparison> <number>`, so its signal can be checked on its own. */
function splitAlert(expr: string): { signal: string; threshold: string } {
  const match = /^([\s\S]*?)\s*(==|!=|>=|<=|>|<)\s*(-?[0-9.]+)\s*$/.exec(expr.trim());
  if (!match?.[1] || !match[3])
    throw new Error(`alert expression not of the form <signal> <op> <number>: ${expr}`);
  return { signal: match[1], threshold: match[3] };
}

/** Every query of the dashboard, its variables replaced as Grafana would for "All". */
function dashboardQueries(): { title: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
    panels: { title: string; targets?: { expr: string }[] }[];
    templating: { list: { name: string; definition?: string }[] };
  };
  const substitute = (expr: string) =>
    expr.replaceAll("$__rate_interval", "1m").replaceAll("$job", JOB).replaceAll("$instance", ".*");
  const panels = dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ title: panel.title, expr: substitute(target.expr) })),
  );
  // label_values(<selector>, label): the selector must have series.
  const variables = dashboard.templating.list.flatMap((variable) => {
    const selector = /^label_values\((.*),\s*\w+\)$/.exec(variable.definition ?? "")?.[1];
    return selector ? [{ title: `variable ${variable.name}`, expr: substitute(selector) }] : [];
  });
  return [...panels, ...variables];
}

describe.skipIf(!prometheus.run)("Prometheus alert rules and the Grafana dashboard", () => {
  beforeAll(() => failIfMissing(prometheus));

  it("pass promtool's check and the rules' unit tests", async () => {
    const checked = await run(PROMTOOL, ["check", "rules", RULES]);
    expect(checked.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const tested = await run(PROMTOOL, ["test", "rules", RULE_TESTS], { cwd: join(DEPLOY, "prometheus") });
    expect(tested.stdout).toContain("SUCCESS");
    expect(rules().filter((r) => r.alert).length).toBeGreaterThanOrEqual(8);
  });

  describe("against a real Prometheus scraping two real instances", () => {
    let redis: RedisServer;
    let one: ChildServer;
    let two: ChildServer;
    let prom: ChildProcess | undefined;
    let promUrl: string;
    let dir: string;
    const promLog: string[] = [];

    beforeAll(async () => {
      redis = await startRedis();
      const env = {
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: `prom${randomBytes(4).toString("hex")}:`,
        METRICS_TOKEN,
        MAX_CONNECTIONS_PER_USER: "1000",
        SHUTDOWN_GRACE_MS: "1000",
      };
      one = new ChildServer({ ...env, INSTANCE_ID: "one" });
      two = new ChildServer({ ...env, INSTANCE_ID: "two" });
      await Promise.all([one.start(), two.start()]);

      dir = mkdtempSync(join(tmpdir(), "rt-prometheus-"));
      writeFileSync(join(dir, "token"), METRICS_TOKEN);
      // The example configuration, with this test's targets, token and a fast pace.
      const config = parse(readFileSync(EXAMPLE_CONFIG, "utf8"));
      config.global = { scrape_interval: "1s", evaluation_interval: "1s" };
      config.rule_files = [RULES];
      const job = config.scrape_configs[0];
      job.authorization.credentials_file = join(dir, "token");
      job.static_configs = [{ targets: [one.url, two.url].map((u) => u.replace("http://", "")) }];
      writeFileSync(join(dir, "prometheus.yml"), stringify(config));

      const port = await freePort();
      promUrl = `http://127.0.0.1:${port}`;
      prom = spawn(
        PROMETHEUS,
        [
          `--config.file=${join(dir, "prometheus.yml")}`,
          `--storage.tsdb.path=${join(dir, "data")}`,
          `--web.listen-address=127.0.0.1:${port}`,
          "--log.level=warn",
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      prom.stderr?.setEncoding("utf8").on("data", (chunk: string) => promLog.push(chunk));
      await eventually(
        async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.status === 200,
        20_000,
        100,
      ).catch(() => {
        throw new Error(`prometheus did not start:\n${promLog.join("")}`);
      });
    }, 60_000);

    afterAll(async () => {
      closeAllClients();
      if (prom && prom.exitCode === null) {
        const exited = new Promise((resolve) => prom?.once("exit", resolve));
        prom.kill("SIGTERM");
        await exited;
      }
      await Promise.all([one?.kill(), two?.kill()]);
      await redis?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** The instant query's samples with a finite value. */
    async function query(expr: string): Promise<{ metric: Record<string, string>; value: number }[]> {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== "success") throw new Error(`${expr}: ${body.error}`);
      return (body.data?.result ?? [])
        .map((r) => ({ metric: r.metric, value: Number(r.value[1]) }))
        .filter((s) => Number.isFinite(s.value));
    }
    const hasData = async (expr: string) => (await query(expr)).length > 0;

    it("scrapes both instances with the example configuration and its bearer token", async () => {
      await eventually(async () => (await query(`up{job="${JOB}"} == 1`)).length === 2, 15_000, 200);
      const ready = await query("rt_ready");
      expect(ready.map((s) => s.metric.instance).sort()).toEqual(
        [one.url, two.url].map((u) => u.replace("http://", "")).sort(),
      );
    });

    it("returns data for every recorded signal, alert signal and dashboard query once their events happened", async () => {
      // Steady traffic on both instances, so rates and latency quantiles have samples to work on.
      const member = async (url: string, user: string) => {
        const socket = await connected(url, await tokenFor(user, { rooms: ["team:*"] }));
        await request(socket, "chat:join", { roomId: "team:prom" });
        return socket;
      };
      const talkers = [await member(one.url, "p1"), await member(two.url, "p2")];
      let talking = true;
      const traffic = (async () => {
        for (let i = 0; talking; i++) {
          for (const socket of talkers) {
            await request(socket, "chat:send", { roomId: "team:prom", text: `m${i}` }).catch(() => undefined);
          }
          await sleep(200);
        }
      })();

      try {
        // A flood: chat:typing is limited to 5/s per user, so RATE_LIMITED is counted.
        const flooder = await member(one.url, "flooder");
        const floods = await Promise.all(
          Array.from({ length: 30 }, () =>
            request(flooder, "chat:typing", { roomId: "team:prom", typing: true }),
          ),
        );
        expect(floods.some((r) => !r.ok && r.error.code === "RATE_LIMITED")).toBe(true);
        await request(flooder, "chat:send", { roomId: "team:prom", text: "" }); // INVALID_PAYLOAD
        flooder.disconnect();

        // Imbalance: 120 more sockets on one instance than on the other.
        const crowd = await Promise.all(
          Array.from({ length: 120 }, async (_, k) => connected(one.url, await tokenFor(`crowd${k % 20}`))),
        );
        await eventually(async () => hasData("rt:sockets_connected:max_over_avg > 1.5"), 30_000, 250);
        expect(await hasData(splitAlert(alertExpr("RealtimeConnectionImbalance")).signal)).toBe(true);
        for (const socket of crowd) socket.disconnect();

        // Redis goes away: both instances lose readiness, count Redis errors, answer UNAVAILABLE.
        await redis.stop();
        await eventually(async () => (await query(alertExpr("RealtimeNotReady"))).length === 2, 30_000, 250);
        await request(talkers[0] as TestSocket, "chat:send", { roomId: "team:prom", text: "lost?" });
        await eventually(async () => hasData("rt:redis_errors:rate1m > 0"), 30_000, 250);
        await redis.start();
        await eventually(async () => (await query("rt_ready == 1")).length === 2, 30_000, 250);
        await eventually(async () => hasData("rt:event_server_errors:ratio_rate5m > 0"), 30_000, 250);

        const expressions = [
          ...rules().map((r) => ({
            title: r.record ?? `${r.alert} signal`,
            expr: r.record ? r.expr : splitAlert(r.expr).signal,
          })),
          ...rules().flatMap((r) => (r.record ? [{ title: `recorded ${r.record}`, expr: r.record }] : [])),
          ...dashboardQueries(),
        ];
        const missing = async () => {
          const empty: string[] = [];
          for (const { title, expr } of expressions)
            if (!(await hasData(expr))) empty.push(`${title}: ${expr}`);
          return empty;
        };
        await eventually(async () => (await missing()).length === 0, 20_000, 500).catch(() => undefined);
        expect(await missing()).toEqual([]);
      } finally {
        talking = false;
        await traffic;
      }
    }, 180_000);

    it("fires the instance-down expression for an instance that stops answering", async () => {
      expect(await hasData(alertExpr("RealtimeInstanceDown"))).toBe(false);
      await two.kill();
      await eventually(async () => hasData(alertExpr("RealtimeInstanceDown")), 30_000, 250);
      const down = await query(alertExpr("RealtimeInstanceDown"));
      expect(down.map((s) => s.metric.instance)).toEqual([two.url.replace("http://", "")]);
    }, 60_000);
  });
});

function alertExpr(name: string): string {
  const rule = rules().find((r) => r.alert === name);
  if (!rule) throw new Error(`no alert ${name}`);
  return rule.expr.trim();
}
