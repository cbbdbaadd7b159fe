import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChildServer } from "../helpers/child-server.js";
import { closeAllClients, connected } from "../helpers/client.js";
import { checkTool, executableProblem, failIfMissing } from "../helpers/external-tools.js";
import { freePort, type RedisServer, startRedis } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
// UPDATE_SCREENSHOTS=1 writes docs/screenshots/admin-ui.png, the one the docs show.
const SCREENSHOTS = join(
  ROOT,
  process.env.UPDATE_SCREENSHOTS === "1" ? "docs/screenshots" : "test-results/screenshots",
);
const PASSWORD = "browser-admin-password-0123456789";
const STEP_MS = 15_000;

const browserTool = checkTool(
  "the admin UI browser test",
  executableProblem(CHROMIUM, "apt-get install chromium"),
);

describe.skipIf(!browserTool.run)("the admin UI in Chromium, over two instances", () => {
  let redis: RedisServer;
  let one: ChildServer;
  let two: ChildServer;
  let browser: Browser;
  let profile: string;

  beforeAll(async () => {
    failIfMissing(browserTool);
    redis = await startRedis();
    const ports = [await freePort(), await freePort()];
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `adminui${randomBytes(4).toString("hex")}:`,
      ADMIN_UI_ENABLED: "true",
      ADMIN_UI_USERNAME: "ops",
      ADMIN_UI_PASSWORD: PASSWORD,
      // The page is served by the instance itself: its origin must be allowed.
      CORS_ORIGINS: ports.map((p) => `http://127.0.0.1:${p}`).join(","),
      SHUTDOWN_GRACE_MS: "1000",
    };
    one = new ChildServer({ ...env, PORT: String(ports[0]), INSTANCE_ID: "socket-a" });
    two = new ChildServer({ ...env, PORT: String(ports[1]), INSTANCE_ID: "socket-b" });
    await Promise.all([one.start(), two.start()]);
    profile = mkdtempSync(join(tmpdir(), "rt-chromium-"));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        `--disk-cache-dir=${join(profile, "cache")}`,
      ],
    });
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    closeAllClients();
    await browser?.close();
    await Promise.all([one?.kill(), two?.kill()]);
    await redis?.destroy();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("logs in on one instance's /admin/ page and shows both instances and their clients", async () => {
    for (const [server, users] of [
      [one, ["alice", "bob", "carol"]],
      [two, ["dave", "erin"]],
    ] as const) {
      for (const user of users) await connected(server.url, await tokenFor(user));
    }
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));

    await page.goto(`${one.url}/admin/`);
    await page.getByLabel("Server URL").fill(one.url);
    await page.getByLabel("Username").fill("ops");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByText("connected", { exact: true }).first().waitFor({ timeout: STEP_MS });

    // The dashboard adds up both instances: 3 + 2 sockets in "/", two healthy servers.
    await page.getByRole("row", { name: "/ 5", exact: true }).waitFor({ timeout: STEP_MS });
    await page.locator("tr", { hasText: /healthy\s*2\s*100\.0/i }).waitFor({ timeout: STEP_MS });
    await page.screenshot({ path: join(SCREENSHOTS, "admin-ui.png"), animations: "disabled" });

    await page.locator("nav").getByText("Servers", { exact: true }).click();
    for (const id of ["socket-a", "socket-b"]) {
      await page.getByRole("cell", { name: id, exact: true }).waitFor({ timeout: STEP_MS });
    }
    await page.screenshot({ path: join(SCREENSHOTS, "admin-ui-servers.png"), animations: "disabled" });
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
