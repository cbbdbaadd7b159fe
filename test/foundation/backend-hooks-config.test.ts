import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/infra/config.js";

/** ROOM_ACCESS_* and MESSAGE_HOOK_*: validated at start, named in every problem. */

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ NODE_ENV: "test", ...env });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};

describe("the backend hooks' configuration", () => {
  it("is off by default, with the documented defaults", () => {
    const config = loadConfig({ NODE_ENV: "test" });
    expect(config.roomAccess).toEqual({ url: undefined, key: undefined, timeoutMs: 1500, defaultTtlSec: 60 });
    expect(config.messageHook).toEqual({
      url: undefined,
      key: undefined,
      timeoutMs: 1000,
      failure: "closed",
    });
    expect(config.jwt.maxLifetimeSec).toBe(604_800);
  });

  it("requires each hook's key with its URL, and never shows the key", () => {
    expect(problemsOf({ ROOM_ACCESS_URL: "https://b.example/access" })).toEqual([
      "ROOM_ACCESS_KEY: required with ROOM_ACCESS_URL (the backend must know the caller)",
    ]);
    expect(problemsOf({ MESSAGE_HOOK_URL: "https://b.example/moderate" })).toEqual([
      "MESSAGE_HOOK_KEY: required with MESSAGE_HOOK_URL (the backend must know the caller)",
    ]);
    expect(problemsOf({ ROOM_ACCESS_URL: "ftp://b.example/", ROOM_ACCESS_KEY: "k" })[0]).toMatch(
      /^ROOM_ACCESS_URL: must be an http:\/\/ or https:\/\/ URL/,
    );
    expect(problemsOf({ MESSAGE_HOOK_FAILURE: "maybe" })[0]).toMatch(/^MESSAGE_HOOK_FAILURE: /);
    expect(problemsOf({ ROOM_ACCESS_TIMEOUT_MS: "5000" })[0]).toMatch(/^ROOM_ACCESS_TIMEOUT_MS: /);
    expect(problemsOf({ JWT_MAX_LIFETIME_SEC: "10" })[0]).toMatch(/^JWT_MAX_LIFETIME_SEC: /);
  });

  it("names the variable a misspelled hook setting was probably meant to be", () => {
    const config = loadConfig({ NODE_ENV: "test", MESSAGE_HOOK_FAILUR: "open", ROOM_ACCESS_TTL_SECS: "5" });
    expect(config.warnings.filter((w) => /MESSAGE_HOOK_FAILUR |ROOM_ACCESS_TTL_SECS /.test(w))).toEqual([
      expect.stringMatching(
        /^MESSAGE_HOOK_FAILUR is not a variable of this service.*MESSAGE_HOOK_FAILURE\?$/,
      ),
      expect.stringMatching(
        /^ROOM_ACCESS_TTL_SECS is not a variable of this service.*ROOM_ACCESS_TTL_SEC\?$/,
      ),
    ]);
  });

  it("warns in production about a plain http:// hook", () => {
    const production = {
      NODE_ENV: "production",
      JWT_SECRET: "p".repeat(40),
      CORS_ORIGINS: "https://a.example",
    };
    const plain = loadConfig({
      ...production,
      ROOM_ACCESS_URL: "http://b.example/access",
      ROOM_ACCESS_KEY: "k",
      MESSAGE_HOOK_URL: "http://b.example/moderate",
      MESSAGE_HOOK_KEY: "k",
    });
    expect(plain.warnings.filter((w) => / is http:\/\/: its key/.test(w))).toEqual([
      "ROOM_ACCESS_URL is http://: its key and payloads cross the network unencrypted; use https://",
      "MESSAGE_HOOK_URL is http://: its key and payloads cross the network unencrypted; use https://",
    ]);
    const tls = loadConfig({ ...production, ROOM_ACCESS_URL: "https://b.example/", ROOM_ACCESS_KEY: "k" });
    expect(tls.warnings.filter((w) => / is http:\/\/: its key/.test(w))).toEqual([]);
  });
});
