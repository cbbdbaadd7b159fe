import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/infra/config.js";
import { backoffMs } from "../../src/webhooks/delivery.js";

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const secret = `whsec_${randomBytes(32).toString("base64")}`;

describe("webhook configuration", () => {
  it("is off without WEBHOOK_URL, and on with every event by default when it is set with a secret", () => {
    expect(loadConfig({}).webhooks).toEqual({ enabled: false });
    const on = loadConfig({ WEBHOOK_URL: "https://backend.example/hooks", WEBHOOK_SECRET: secret }).webhooks;
    expect(on).toMatchObject({
      enabled: true,
      url: "https://backend.example/hooks",
      retryWindowMs: 86_400_000,
    });
    expect(on.enabled && on.events).toHaveLength(6);
  });

  it("refuses a missing or malformed secret, an unknown event, and a URL that is not http(s)", () => {
    expect(problemsOf({ WEBHOOK_URL: "https://b.example/" })).toEqual([
      "WEBHOOK_SECRET: required with WEBHOOK_URL (every delivery is signed)",
    ]);
    const malformed = "WEBHOOK_SECRET: must be whsec_ followed by base64 of 24 to 64 random bytes";
    expect(problemsOf({ WEBHOOK_SECRET: "not-a-secret" })).toEqual([malformed]);
    expect(problemsOf({ WEBHOOK_SECRET: `whsec_${randomBytes(8).toString("base64")}` })).toEqual([malformed]);
    expect(problemsOf({ WEBHOOK_URL: "ftp://b.example/", WEBHOOK_SECRET: secret })).toEqual([
      'WEBHOOK_URL: must start with http:// or https:// (got "ftp://b.example/")',
    ]);
    expect(problemsOf({ WEBHOOK_EVENTS: "user.online,usr.offline" })).toEqual([
      'WEBHOOK_EVENTS: "usr.offline" is not an event (user.online, user.offline, room.occupied, room.vacated, chat.message.created, notification.undelivered)',
    ]);
  });

  it("warns in production about a plain http:// receiver", () => {
    const production = {
      NODE_ENV: "production",
      JWT_SECRET: "p".repeat(40),
      CORS_ORIGINS: "https://a.example",
    };
    const warn = "WEBHOOK_URL is http://";
    const plain = loadConfig({ ...production, WEBHOOK_URL: "http://b.example/", WEBHOOK_SECRET: secret });
    expect(plain.warnings.filter((w) => w.startsWith(warn))).toHaveLength(1);
    const tls = loadConfig({ ...production, WEBHOOK_URL: "https://b.example/", WEBHOOK_SECRET: secret });
    expect(tls.warnings.filter((w) => w.startsWith(warn))).toEqual([]);
  });

  it("never shows the secret in a configuration error", () => {
    const problems = problemsOf({ WEBHOOK_SECRET: "whsec_short" });
    expect(problems.join("\n")).not.toContain("whsec_short");
  });
});

describe("webhook retry backoff", () => {
  const options = {
    retryWindowMs: 60_000,
    retryBaseMs: 100,
    retryMaxMs: 1000,
    claimIdleMs: 1000,
    pollMs: 50,
    concurrency: 4,
  };

  it("doubles per attempt up to the maximum, waiting between half and all of it", () => {
    expect([1, 2, 3, 4, 5, 30].map((n) => backoffMs(n, options, () => 0))).toEqual([
      50, 100, 200, 400, 500, 500,
    ]);
    expect([1, 2, 3, 4, 5, 30].map((n) => backoffMs(n, options, () => 1))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });
});
