import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok, request } from "../helpers/client.js";
import { freePort } from "../helpers/redis-server.js";
import { systemBinaries } from "../helpers/system-binaries.js";
import { tokenFor } from "../helpers/tokens.js";

/** The README's access hook and moderation hook sections, run as a reader would copy them. */

const root = fileURLToPath(new URL("../../", import.meta.url));
let app: TestApp | undefined;
let backend: ChildProcess | undefined;
let dir: string | undefined;

afterEach(async () => {
  closeAllClients();
  await app?.close();
  backend?.kill("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
  app = backend = dir = undefined;
});

/** A README section: from its heading to the next one. */
function section(heading: string): string {
  const readme = readFileSync(`${root}README.md`, "utf8");
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no "## ${heading}" in the README`);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** The section's backend (its ```js block) on a free port instead of `readmePort`, and its curl lines. */
async function runBackend(heading: string, readmePort: number, env: Record<string, string>) {
  const text = section(heading);
  const code = /```js\n([\s\S]*?)```/.exec(text)?.[1] ?? "";
  expect(code).toContain(`.listen(${readmePort})`);
  const curl = (/```sh\n([\s\S]*?)```/g.exec(text.slice(text.indexOf(code) + code.length))?.[1] ?? "")
    .split("\n")
    .filter((line) => !line.startsWith("node ") && !line.includes("npm start") && !line.startsWith("#"))
    .join("\n");
  expect(curl).toContain("curl");
  const port = await freePort();
  dir = mkdtempSync(join(tmpdir(), "rt-readme-hook-"));
  const file = join(dir, "backend.mjs");
  writeFileSync(file, code.replace(`.listen(${readmePort})`, `.listen(${port})`));
  backend = spawn(process.execPath, [file], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: "ignore",
  });
  const url = `http://localhost:${port}/`;
  // The curl lines of the section, against it: the README shows their answer.
  let answer = "";
  await eventually(async () => {
    try {
      const { stdout } = await promisify(execFile)("bash", [
        "-c",
        curl.replaceAll(`http://localhost:${readmePort}/`, url),
      ]);
      answer = stdout;
      return answer.length > 0;
    } catch {
      return false;
    }
  });
  return { url, answer: JSON.parse(answer) as Record<string, unknown> };
}

const curl = systemBinaries("the README's hook examples (test/chat/readme-hooks.test.ts)", "curl");

describe.skipIf(!curl)("the README's backend hooks", () => {
  it("room access: the example backend answers the curl, and lets alice, not carol, into group:42", async () => {
    const key = "room-access-key-0123456789";
    const { url, answer } = await runBackend("Room access from the backend", 4100, { ROOM_ACCESS_KEY: key });
    expect(answer).toEqual({ allow: true, ttlSec: 300 });
    app = await startApp({ ROOM_ACCESS_URL: url, ROOM_ACCESS_KEY: key });
    const alice = await connected(app.url, await tokenFor("alice", { rooms: ["team:*"] }));
    expect((await ok(alice, "chat:join", { roomId: "group:42" })).roomId).toBe("group:42");
    const carol = await connected(app.url, await tokenFor("carol"));
    expect(await request(carol, "chat:join", { roomId: "group:42" })).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN" },
    });
  });

  it("moderation: the example backend answers the curl, rewrites a word and rejects links", async () => {
    const key = "message-hook-key-0123456789";
    const { url, answer } = await runBackend("Moderation hook", 4101, { MESSAGE_HOOK_KEY: key });
    expect(answer).toEqual({ action: "replace", text: "oh ****" });
    app = await startApp({ MESSAGE_HOOK_URL: url, MESSAGE_HOOK_KEY: key });
    const alice = await connected(app.url, await tokenFor("alice", { rooms: ["team:*"] }));
    await ok(alice, "chat:join", { roomId: "team:general" });
    expect((await ok(alice, "chat:send", { roomId: "team:general", text: "oh darn" })).text).toBe("oh ****");
    expect(
      await request(alice, "chat:send", { roomId: "team:general", text: "see http://x.test" }),
    ).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN", message: "rejected by moderation: no links, please" },
    });
  });
});
