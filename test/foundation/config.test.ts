import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseEnv, promisify } from "node:util";
import { describe, expect, it } from "vitest";
import {
  CONFIG_DEFAULTS,
  CONFIG_VARIABLES,
  ConfigError,
  loadConfig,
  MIN_INTERNAL_API_KEY_LENGTH,
} from "../../src/infra/config.js";
import { DIST_MAIN } from "../helpers/child-server.js";

const run = promisify(execFile);

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("configuration", () => {
  it("runs with no configuration at all outside production, with loud warnings", () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.redis.url).toBeUndefined();
    expect(config.jwt.key).toMatchObject({ kind: "secret", development: true });
    expect(config.warnings.join("\n")).toMatch(/NO JWT KEY CONFIGURED/);
    expect(config.warnings.join("\n")).toMatch(/REDIS_URL is not set/);
  });

  it("names the variable of an invalid value", () => {
    expect(problemsOf({ PORT: "eighty" })).toEqual([expect.stringMatching(/^PORT: .*\(got "eighty"\)/)]);
    expect(problemsOf({ REDIS_URL: "http://x" })[0]).toMatch(/^REDIS_URL: must start with redis:\/\//);
    expect(problemsOf({ LOG_LEVEL: "loud" })[0]).toMatch(/^LOG_LEVEL:/);
    expect(problemsOf({ CORS_ORIGINS: "https://ok.example,not-an-origin" })[0]).toMatch(
      /^CORS_ORIGINS: "not-an-origin"/,
    );
    expect(problemsOf({ JWT_SECRET: "short" })[0]).toMatch(/^JWT_SECRET: must be at least 32 characters/);
  });

  it("never echoes a secret's value in the error", () => {
    const problems = problemsOf({ JWT_SECRET: "short" });
    expect(problems.join("\n")).not.toContain('"short"');
  });

  it("refuses to start in production without a real JWT key or CORS_ORIGINS, or with a wildcard origin", () => {
    const none = problemsOf({ NODE_ENV: "production" });
    expect(none).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^JWT_SECRET \/ JWT_PUBLIC_KEY \/ JWT_JWKS_URL: one is required in production/),
        "CORS_ORIGINS: required in production",
      ]),
    );
    const wildcard = problemsOf({ NODE_ENV: "production", JWT_SECRET: "p".repeat(40), CORS_ORIGINS: "*" });
    expect(wildcard).toEqual(["CORS_ORIGINS: a wildcard origin is not allowed in production"]);
    expect(
      problemsOf({ NODE_ENV: "production", JWT_SECRET: "p".repeat(40), CORS_ORIGINS: "https://app.example" }),
    ).toEqual([]);
  });

  it("warns in production when METRICS_TOKEN is unset, and only then", () => {
    const production = {
      NODE_ENV: "production",
      JWT_SECRET: "p".repeat(40),
      CORS_ORIGINS: "https://a.example",
    };
    const warning = expect.stringMatching(/^METRICS_TOKEN is not set: GET \/metrics answers anyone/);
    expect(loadConfig(production).warnings).toContainEqual(warning);
    expect(loadConfig({ ...production, METRICS_TOKEN: "t".repeat(32) }).warnings).not.toContainEqual(warning);
    expect(loadConfig({}).warnings).not.toContainEqual(warning);
  });

  it("refuses HMAC algorithms together with a public key", () => {
    const pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----";
    expect(problemsOf({ JWT_PUBLIC_KEY: pem, JWT_ALGORITHMS: "HS256" })).toEqual([
      "JWT_ALGORITHMS: HS* algorithms cannot be used with a public key",
    ]);
  });

  it("documents every variable in .env.example, and the example itself is a valid configuration", () => {
    const example = readFileSync(new URL("../../.env.example", import.meta.url), "utf8");
    for (const name of CONFIG_VARIABLES) expect(example).toMatch(new RegExp(`^#? ?${name}=`, "m"));
    // Node's own .env parser, the one process.loadEnvFile uses in main.ts.
    const parsed = parseEnv(example);
    expect(Object.keys(parsed).length).toBeGreaterThan(10);
    expect(() => loadConfig(parsed)).not.toThrow();
  });

  it("documents every variable in the configuration table (docs/configuration.md)", () => {
    const readme = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
    expect(CONFIG_VARIABLES.filter((name) => !readme.includes(`\`${name}\``))).toEqual([]);
  });

  it("states each default where the schema has it: the configuration table and .env.example agree with it", () => {
    const readme = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
    const example = parseEnv(readFileSync(new URL("../../.env.example", import.meta.url), "utf8"));
    const rows = readme.split("\n").filter((line) => line.startsWith("| `"));
    expect(Object.keys(CONFIG_DEFAULTS).length).toBeGreaterThan(30);
    for (const [name, value] of Object.entries(CONFIG_DEFAULTS)) {
      const row = rows.find((line) => line.split("|")[1]?.includes(`\`${name}\``));
      expect(row?.split("|")[2], name).toContain(`\`${value}\``);
      if (name in example) expect(example[name], name).toBe(value);
    }
  });

  it("states the production minimum length of INTERNAL_API_KEY wherever the variable is documented", () => {
    const production = {
      NODE_ENV: "production",
      JWT_SECRET: "p".repeat(40),
      CORS_ORIGINS: "https://a.example",
    };
    const short = "k".repeat(MIN_INTERNAL_API_KEY_LENGTH - 1);
    expect(problemsOf({ ...production, INTERNAL_API_KEY: short })).toEqual([
      `INTERNAL_API_KEY: must be at least ${MIN_INTERNAL_API_KEY_LENGTH} characters in production`,
    ]);
    expect(problemsOf({ ...production, INTERNAL_API_KEY: `${short}k` })).toEqual([]);
    const rule = `${MIN_INTERNAL_API_KEY_LENGTH} characters in production`;
    const readme = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
    const row = readme.split("\n").find((line) => line.startsWith("| `INTERNAL_API_KEY` |"));
    expect(row).toContain(rule);
    const example = readFileSync(new URL("../../.env.example", import.meta.url), "utf8");
    const at = example.indexOf("INTERNAL_API_KEY=");
    expect(example.slice(at, example.indexOf("\n# METRICS_TOKEN", at))).toContain(rule);
  });

  it("warns about a misspelled variable, naming the one it probably meant", () => {
    const warnings = loadConfig({
      REDIS_ADAPTR: "classic",
      NOTIFICATIONS_LIMIT: "5",
      JWT_SECRET_KEY: "x".repeat(40),
      REDIS_PASSWORD: "pw",
      RATE_TYPO_ANYTHING: "1",
    }).warnings.filter((w) => w.includes("is not a variable"));
    expect(warnings).toEqual([
      "JWT_SECRET_KEY is not a variable of this service and is ignored: did you mean JWT_SECRET?",
      "NOTIFICATIONS_LIMIT is not a variable of this service and is ignored: did you mean NOTIFICATION_LIMIT?",
      "RATE_TYPO_ANYTHING is not a variable of this service and is ignored",
      "REDIS_ADAPTR is not a variable of this service and is ignored: did you mean REDIS_ADAPTER?",
      "REDIS_PASSWORD is not a variable of this service and is ignored: Redis host, port, credentials and TLS go in REDIS_URL",
    ]);
  });

  it("says nothing about the variables others set: proxies, Kubernetes service links, Node's and the shell's", () => {
    const config = loadConfig({
      HTTP_PROXY: "http://proxy:3128",
      REDIS_SERVICE_HOST: "10.0.0.11",
      REDIS_SERVICE_PORT: "6379",
      REDIS_SERVICE_PORT_REDIS: "6379",
      REDIS_PORT: "tcp://10.0.0.11:6379",
      REDIS_PORT_6379_TCP: "tcp://10.0.0.11:6379",
      REDIS_PORT_6379_TCP_ADDR: "10.0.0.11",
      NODE_OPTIONS: "--max-old-space-size=512",
      LOGNAME: "node",
      REDIS_ADAPTER: "classic",
    });
    expect(config.warnings.filter((w) => w.includes("is not a variable"))).toEqual([]);
  });

  it("shows a mistyped URL without its credentials", () => {
    const [problem] = problemsOf({ REDIS_URL: "http://user:s3cret@redis.example:6379" });
    expect(problem).toBe(
      'REDIS_URL: must start with redis:// or rediss:// (got "http://[redacted]@redis.example:6379")',
    );
    const [unparsable] = problemsOf({ REDIS_URL: "redis://:s3cret@[::1:6379" });
    expect(unparsable).toMatch(
      /^REDIS_URL: is not a valid URL .*\(got "redis:\/\/\[redacted\]@\[::1:6379"\)$/,
    );
  });

  it("never prints a URL's password when it refuses to start", async () => {
    for (const url of [
      "http://user:s3cret@redis.example:6379",
      "redis://user:s3cret@bad host:6379",
      "redis://:s3cret@[::1:6379",
    ]) {
      const failure = await run(process.execPath, [DIST_MAIN], {
        env: { PATH: process.env.PATH, PORT: "0", REDIS_URL: url },
        timeout: 10_000,
      }).catch((err: { code: number; stdout: string; stderr: string }) => err);
      expect(failure, url).toMatchObject({ code: 1 });
      const { stdout, stderr } = failure as { stdout: string; stderr: string };
      expect(stderr, url).toMatch(/invalid configuration:\n\s+- REDIS_URL: /);
      expect(stdout + stderr, url).not.toContain("s3cret");
    }
  });

  it("stops the process with a message naming the variable", async () => {
    const failure = await run(process.execPath, [DIST_MAIN], {
      env: { PATH: process.env.PATH, PORT: "not-a-port" },
    }).catch((err: { code: number; stderr: string }) => err);
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr).toMatch(/invalid configuration:\n\s+- PORT: /);
  });
});
