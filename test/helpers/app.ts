import { Writable } from "node:stream";
import { type App, createApp, type FeaturesFactory } from "../../src/app.js";
import { buildFeatures } from "../../src/features.js";
import { type Config, loadConfig } from "../../src/infra/config.js";
import { TEST_JWT_SECRET } from "./tokens.js";

export const ALLOWED_ORIGIN = "http://allowed.test";

/** A config as a test would set the environment; overrides win. */
export function testConfig(overrides: Record<string, string | undefined> = {}): Config {
  return loadConfig({
    NODE_ENV: "test",
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "info",
    JWT_SECRET: TEST_JWT_SECRET,
    CORS_ORIGINS: ALLOWED_ORIGIN,
    SHUTDOWN_GRACE_MS: "1000",
    // Every test client comes from 127.0.0.1: the per-address flood guard has its own test.
    RATE_CONNECT_PER_IP_PER_MIN: "1000000",
    ...overrides,
  });
}

/** Collects the JSON log lines an app writes, so tests can assert on them. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line) continue;
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // pino writes JSON only; a non-JSON line would show up in `raw`
      }
    }
    callback();
  }

  find(predicate: (line: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
    return this.lines.find(predicate);
  }
}

export interface TestApp {
  app: App;
  url: string;
  logs: LogCapture;
  close(): Promise<void>;
}

/** Start the real app on 127.0.0.1:0 with every feature (or the given ones). */
export async function startApp(
  overrides: Record<string, string | undefined> = {},
  features: FeaturesFactory = buildFeatures,
): Promise<TestApp> {
  const logs = new LogCapture();
  const app = createApp(testConfig(overrides), { logDestination: logs }, features);
  await app.start({ waitForRedisMs: 5000 });
  const url = app.url();
  return {
    app,
    url,
    logs,
    close: () => app.shutdown("test teardown"),
  };
}
