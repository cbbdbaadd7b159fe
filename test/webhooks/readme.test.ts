import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok } from "../helpers/client.js";
import { freePort } from "../helpers/redis-server.js";
import { systemBinaries } from "../helpers/system-binaries.js";
import { tokenFor } from "../helpers/tokens.js";
import { newWebhookSecret } from "../helpers/webhook-receiver.js";
import { connectAs } from "../presence/support.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const curl = systemBinaries("the README's internal API curl commands (test/webhooks/readme.test.ts)", "curl");
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

describe("the README's Webhooks section", () => {
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

  it.skipIf(!curl)("answers every read and dead-letter curl of the README with JSON", async () => {
    const readme = readFileSync(`${root}README.md`, "utf8");
    const section = readme.slice(readme.indexOf("The internal API also reads"));
    const script = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
    expect(script).toContain("curl");
    app = await startApp({
      INTERNAL_API_KEY: "walk-through-key-0123456789",
      WEBHOOK_URL: "http://127.0.0.1:9/",
      WEBHOOK_SECRET: newWebhookSecret(),
    });
    const alice = await connected(app.url, await tokenFor("alice", { rooms: ["team:*"] }));
    await ok(alice, "chat:join", { roomId: "team:general" });
    await ok(alice, "chat:send", { roomId: "team:general", text: "hello" });

    // Each answer on a line of its own, against this app instead of :3000.
    const commands = script
      .replaceAll("http://localhost:3000", app.url)
      .replace(/^curl -s /gm, "curl -s -w '\\n' ");
    const { stdout } = await promisify(execFile)("bash", ["-c", commands]);
    const answers = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(answers).toHaveLength((script.match(/^curl /gm) ?? []).length);
    expect(answers[0]).toMatchObject({ roomId: "team:general", seq: 1 });
    expect(answers[2]).toMatchObject({ users: [expect.objectContaining({ userId: "alice", devices: 1 })] });
    expect(answers[3]).toMatchObject({ userId: "alice", status: "online" });
    expect(answers[4]).toEqual({ userId: "alice", unreadCount: 0 });
    expect(answers[5]).toMatchObject({ instances: [expect.objectContaining({ connections: 1 })] });
    expect(answers[6]).toHaveProperty("deadLetters");
    expect(answers[7]).toMatchObject({ openapi: "3.1.0" });
    expect(answers[8]).toMatchObject({ error: { code: "NOT_FOUND" } });
  });
});
