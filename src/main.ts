import { readFileSync } from "node:fs";
import { type App, createApp } from "./app.js";
import { buildFeatures } from "./features.js";
import { ConfigError, loadConfig } from "./infra/config.js";
import { redactUrlCredentials } from "./infra/redact.js";

/** The composition root's entry: read the environment, build the app, handle signals. */
async function main(): Promise<void> {
  try {
    process.loadEnvFile();
  } catch {
    // an optional .env: the environment alone is fine
  }
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  let app: App;
  try {
    // A ConfigError from createApp: a file the configuration names (TLS) is missing.
    app = createApp(loadConfig(process.env, pkg.version), {}, buildFeatures);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const log = app.logger.child({ module: "main" });

  // Last line of defence: a stray rejection is a bug to log, not a reason to drop every connection.
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled rejection"));
  process.on("uncaughtException", (err) => {
    log.fatal({ err }, "uncaught exception, exiting");
    app.logger.flush();
    process.exit(1);
  });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal }, "second signal, exiting now");
      process.exit(1);
    }
    app
      .shutdown(signal)
      .then(() => {
        app.logger.flush();
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      });
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  await app.start();
}

main().catch((err: unknown) => {
  // Before the logger exists: an error quoting a URL (a Redis URL) must not print its password.
  console.error(redactUrlCredentials(err instanceof Error ? (err.stack ?? err.message) : String(err)));
  process.exit(1);
});
