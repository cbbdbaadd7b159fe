import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { loadConfig } from "../../src/infra/config.js";
import { closeAllClients, connected } from "../helpers/client.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));

describe("npm run token", () => {
  // The newcomer's path: no configuration at all, a token from the CLI, a connection.
  const app = createApp(loadConfig({ PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent" }));

  beforeAll(async () => {
    await app.start();
  });
  afterAll(async () => {
    closeAllClients();
    await app.shutdown();
  });

  it("prints a token that a server with no configuration accepts", async () => {
    const { stdout } = await run(
      "npx",
      [
        "tsx",
        "src/auth/token-cli.ts",
        "--sub",
        "alice",
        "--name",
        "Alice",
        "--rooms",
        "team:*",
        "--ttl",
        "10m",
      ],
      { cwd: root, env: { PATH: process.env.PATH } },
    );
    const token = stdout.trim();
    expect(token.split(".")).toHaveLength(3);
    const socket = await connected(app.url(), token, { extraHeaders: { origin: "http://localhost:5173" } });
    expect(socket.connected).toBe(true);
    const [server] = [...app.io.of("/").sockets.values()];
    expect(server?.data.user).toEqual({ id: "alice", name: "Alice", rooms: ["team:*"] });
  });

  it("explains its usage when --sub is missing", async () => {
    const failure = await run("npx", ["tsx", "src/auth/token-cli.ts"], {
      cwd: root,
      env: { PATH: process.env.PATH },
    }).catch((err: { code: number; stderr: string }) => err);
    expect(failure).toMatchObject({ code: 2, stderr: expect.stringContaining("usage: npm run token") });
  });
});
