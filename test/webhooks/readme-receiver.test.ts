import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, eventually } from "../helpers/client.js";
import { freePort } from "../helpers/redis-server.js";
import { newWebhookSecret } from "../helpers/webhook-receiver.js";
import { connectAs } from "../presence/support.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
let app: TestApp | undefined;
let receiver: ChildProcess | undefined;
let file: string | undefined;

afterEach(async () => {
  closeAllClients();
  await app?.close();
  receiver?.kill("SIGKILL");
  if (file) rmSync(file, { force: true });
  app = receiver = file = undefined;
});

/** The first ```js block of the README's "Webhooks" section, as a reader copies it. */
function readmeReceiver(): string {
  const readme = readFileSync(`${root}README.md`, "utf8");
  const section = readme.slice(readme.indexOf("\n## Webhooks\n"));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code) throw new Error("no js block in the README's Webhooks section");
  return code;
}

describe("the README's webhook receiver", () => {
  it("verifies and prints the events the service sends it", async () => {
    const port = await freePort();
    const code = readmeReceiver();
    expect(code).toContain(".listen(4000)");
    // In the repository, so that `standardwebhooks` resolves; on a free port instead of 4000.
    file = `${root}.readme-receiver-${randomBytes(4).toString("hex")}.mjs`;
    writeFileSync(file, code.replace(".listen(4000)", `.listen(${port})`));
    const secret = newWebhookSecret();
    const out: string[] = [];
    receiver = spawn(process.execPath, [file], {
      env: { PATH: process.env.PATH ?? "", WEBHOOK_SECRET: secret },
      stdio: ["ignore", "pipe", "pipe"],
    });
    receiver.stdout?.setEncoding("utf8").on("data", (chunk: string) => out.push(chunk));
    receiver.stderr?.setEncoding("utf8").on("data", (chunk: string) => out.push(chunk));

    app = await startApp({
      WEBHOOK_URL: `http://127.0.0.1:${port}/`,
      WEBHOOK_SECRET: secret,
      WEBHOOK_POLL_MS: "50",
      WEBHOOK_RETRY_BASE_MS: "50",
      WEBHOOK_RETRY_MAX_MS: "200",
    });
    await connectAs(app, "alice");
    await eventually(() => out.join("").includes("user.online"), 10_000);
    expect(out.join("")).toMatch(/^user\.online \{"userId":"alice","at":\d+\}$/m);
  });
});
