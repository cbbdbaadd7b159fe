import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChildServer, DIST_MAIN } from "../helpers/child-server.js";
import { eventually } from "../helpers/client.js";
import { freePort, type RedisServer, startRedis } from "../helpers/redis-server.js";
import { systemBinaries } from "../helpers/system-binaries.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DEMO_INDEX = join(ROOT, "dist/public/demo/index.html");
// Every run saves its screenshots under test-results/ (ignored by git); UPDATE_SCREENSHOTS=1
// writes them to docs/screenshots/, the ones the README shows.
const SCREENSHOTS = join(
  ROOT,
  process.env.UPDATE_SCREENSHOTS === "1" ? "docs/screenshots" : "test-results/screenshots",
);
const API_KEY = "e2e-internal-key-0123456789abcdef";
const STEP_MS = 15_000;

// .ci/run installs Chromium and sets REQUIRE_ALL_TESTS=1; elsewhere a machine without it skips the suite.
const binaries = systemBinaries("the browser tests (test/e2e/demo-browser.test.ts)", "chromium");

/** The conversation as a page shows it: stored messages only, in order. */
const shownTexts = (page: Page) =>
  page.$$eval("#messages li.message:not(.pending):not(.failed) .text", (items) =>
    items.map((item) => item.textContent ?? ""),
  );

async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  await page.locator(selector, { hasText: text }).first().waitFor({ timeout: STEP_MS });
}

async function enter(page: Page, url: string, name: string): Promise<void> {
  await page.goto(`${url}/demo`);
  await page.fill("#name", name);
  await page.click("#login-form button[type=submit]");
  await page.locator('#connection[data-status="connected"]').waitFor({ timeout: STEP_MS });
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill("#message-input", text);
  await page.press("#message-input", "Enter");
}

describe.skipIf(!binaries)("the demo in Chromium: two users on two instances over one Redis", () => {
  let redis: RedisServer;
  let one: ChildServer;
  let two: ChildServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  let profile: string;

  beforeAll(async () => {
    if (!existsSync(DIST_MAIN) || !existsSync(DEMO_INDEX)) {
      throw new Error("dist/ or the demo page is missing: run `npm run build` (npm test does)");
    }
    redis = await startRedis();
    const portOne = await freePort();
    let portTwo = await freePort();
    while (portTwo === portOne) portTwo = await freePort();
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `e2e${randomBytes(4).toString("hex")}:`,
      INTERNAL_API_KEY: API_KEY,
      DEMO_ENABLED: "true",
      // Not the pages' origins: each page is served by the instance it connects to (same origin).
      CORS_ORIGINS: "https://app.example",
      SHUTDOWN_GRACE_MS: "1000",
    };
    one = new ChildServer({ ...env, PORT: String(portOne), INSTANCE_ID: "one" });
    two = new ChildServer({ ...env, PORT: String(portTwo), INSTANCE_ID: "two" });
    await Promise.all([one.start(), two.start()]);
    profile = mkdtempSync(join(tmpdir(), "rt-chromium-"));
    browser = await chromium.launch({
      executablePath: binaries?.chromium,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--disk-cache-dir=${join(profile, "cache")}`,
      ],
    });
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all([one?.kill(), two?.kill()]);
    await redis?.destroy();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function openPage(options: Parameters<Browser["newContext"]>[0]): Promise<Page> {
    const context = await browser.newContext(options);
    contexts.push(context);
    const page = await context.newPage();
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
    });
    return page;
  }

  it("chat both ways, presence, typing, a notification over HTTP, and no loss across a restart", async () => {
    const alice = await openPage({ viewport: { width: 1280, height: 800 } });
    const bob = await openPage({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    await enter(alice, one.url, "Alice");
    await enter(bob, two.url, "Bob");

    // Chat both ways, across the instances; text stays text.
    const hello = "Hello Bob <img src=x onerror=alert(1)> & welcome";
    await say(alice, hello);
    await waitForText(bob, "#messages .text", "Hello Bob");
    expect(await bob.locator("#messages img").count()).toBe(0);
    await say(bob, "Hi Alice, Bob here");
    await waitForText(alice, "#messages .text", "Bob here");

    // Presence: each sees the other in the room, with the status they set.
    await alice.locator('#people li[data-user="bob"]').waitFor({ timeout: STEP_MS });
    await bob.locator('#people li[data-user="alice"]').waitFor({ timeout: STEP_MS });
    await bob.selectOption("#status-select", "busy");
    await alice.locator('#people li[data-user="bob"][data-status="busy"]').waitFor({ timeout: STEP_MS });

    // Typing shows on the other side, and goes away once the message is sent.
    await alice.locator("#message-input").pressSequentially("Are you", { delay: 30 });
    await waitForText(bob, "#typing", "Alice is typing");
    await say(alice, "Are you there?");
    await waitForText(bob, "#messages .text", "Are you there?");
    await eventually(async () => (await bob.textContent("#typing")) === "", STEP_MS);

    // A notification published by a backend over HTTP reaches Bob on the other instance.
    const res = await fetch(`${one.url}/internal/notifications`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({
        userIds: ["bob"],
        type: "deploy",
        title: "Deploy finished",
        body: "api v2.3.1 is live",
      }),
    });
    expect(res.status).toBe(202);
    await waitForText(bob, "#bell-count", "1");
    await bob.click("#bell");
    await waitForText(bob, "#notification-list li", "Deploy finished");
    // Alice sends herself one from the page (POST /demo/notify with her own token).
    await alice.click("#bell");
    await alice.click("#notify-me");
    await waitForText(alice, "#notification-list li", "Test notification");
    await waitForText(alice, "#bell-count", "1");
    await alice.click("#bell");

    // Toasts fade after a few seconds: screenshots without them.
    await Promise.all(
      [alice, bob].map((page) =>
        page.locator(".toast").last().waitFor({ state: "detached", timeout: STEP_MS }),
      ),
    );
    await bob.locator("#message-input").pressSequentially("Deploy looks good", { delay: 30 });
    await waitForText(alice, "#typing", "Bob is typing");
    await alice.screenshot({ path: join(SCREENSHOTS, "demo-desktop.png") });
    await bob.screenshot({ path: join(SCREENSHOTS, "demo-mobile.png") });
    await bob.click("#bell");
    await say(bob, "Deploy looks good");
    await waitForText(alice, "#messages .text", "Deploy looks good");

    // Bob's instance restarts: his page shows it, and keeps what he sends meanwhile.
    await two.signal("SIGTERM");
    await bob.locator('#connection[data-status="reconnecting"]').waitFor({ timeout: STEP_MS });
    await say(alice, "While you were away 1");
    await say(alice, "While you were away 2");
    await waitForText(alice, "#messages .text", "While you were away 2");
    await say(bob, "Sent while offline");
    await bob
      .locator("#messages li.pending", { hasText: "Sent while offline" })
      .waitFor({ timeout: STEP_MS });
    await two.start();
    await bob.locator('#connection[data-status="connected"]').waitFor({ timeout: 30_000 });
    await waitForText(alice, "#messages .text", "Sent while offline");
    await say(alice, "Welcome back");
    await waitForText(bob, "#messages .text", "Welcome back");

    const expected = [
      hello,
      "Hi Alice, Bob here",
      "Are you there?",
      "Deploy looks good",
      "While you were away 1",
      "While you were away 2",
      "Sent while offline",
      "Welcome back",
    ];
    await eventually(async () => (await shownTexts(bob)).length === expected.length, STEP_MS);
    expect(await shownTexts(bob)).toEqual(expected);
    expect(await shownTexts(alice)).toEqual(expected);
    expect(await bob.locator("#messages li.pending, #messages li.failed").count()).toBe(0);
    expect(problems).toEqual([]);
  }, 90_000);

  it("edits, deletes, reactions and replies both ways, and a sidebar with unread badges across rooms", async () => {
    const carol = await openPage({ viewport: { width: 1280, height: 800 } });
    const dave = await openPage({ viewport: { width: 1280, height: 800 } });
    await enter(carol, one.url, "Carol");
    await enter(dave, two.url, "Dave");
    const item = (page: Page, text: string) =>
      page.locator("#messages li.message", { hasText: text }).first();

    // Carol edits her message: Dave sees the new text, marked as edited.
    await say(carol, "helo everyone");
    await waitForText(dave, "#messages .text", "helo everyone");
    await item(carol, "helo everyone").locator('button[data-action="edit"]').click();
    await carol.fill("#message-input", "hello everyone");
    await carol.press("#message-input", "Enter");
    await item(dave, "hello everyone").locator(".edited").waitFor({ timeout: STEP_MS });

    // Dave reacts; Carol sees the count, and adds hers.
    await item(dave, "hello everyone").locator('button[data-action="react"]', { hasText: "👍" }).click();
    await waitForText(carol, '#messages .reactions button[data-emoji="👍"]', "👍 1");
    await item(carol, "hello everyone").locator('.reactions button[data-emoji="👍"]').click();
    await waitForText(dave, '#messages .reactions button[data-emoji="👍"]', "👍 2");

    // Dave replies to it: Carol sees the quote.
    await item(dave, "hello everyone").locator('button[data-action="reply"]').click();
    await say(dave, "hi Carol");
    await waitForText(carol, "#messages li.message .quote", "Carol: hello everyone");

    // Carol deletes a message: a tombstone on both sides, no actions on it.
    await say(carol, "a message to take back");
    await waitForText(dave, "#messages .text", "a message to take back");
    await item(carol, "a message to take back").locator('button[data-action="delete"]').click();
    await dave
      .locator("#messages li.message.deleted", { hasText: "Message deleted" })
      .waitFor({ timeout: STEP_MS });
    expect(await dave.locator("#messages li.deleted button").count()).toBe(0);
    await dave.screenshot({ path: join(SCREENSHOTS, "demo-changes.png") });

    // The sidebar: Dave joins #news, goes back to #lobby; Carol writes in #news twice.
    await dave.fill("#join-input", "news");
    await dave.press("#join-input", "Enter");
    await waitForText(dave, "#room-title", "#news");
    await dave.click('#rooms li[data-room="demo:lobby"] button');
    await carol.fill("#join-input", "news");
    await carol.press("#join-input", "Enter");
    await waitForText(carol, "#room-title", "#news");
    await say(carol, "news one");
    await say(carol, "news two");
    await waitForText(dave, '#rooms li[data-room="demo:news"] .room-unread', "2");
    // After a reload the room list brings #news back with the server's unread count, and a new
    // message there (a room this page has not joined) moves the badge.
    await dave.reload();
    await dave.locator('#connection[data-status="connected"]').waitFor({ timeout: STEP_MS });
    await waitForText(dave, '#rooms li[data-room="demo:news"] .room-unread', "2");
    await say(carol, "news three");
    await waitForText(dave, '#rooms li[data-room="demo:news"] .room-unread', "3");
    await dave.click('#rooms li[data-room="demo:news"] button');
    await waitForText(dave, "#messages .text", "news three");
    expect(await dave.locator('#rooms li[data-room="demo:news"] .room-unread').count()).toBe(0);
    expect(problems).toEqual([]);
  }, 90_000);
});

describe.skipIf(!binaries)("the demo in Chromium when the connection is refused", () => {
  let server: ChildServer;
  let browser: Browser;
  let profile: string;

  beforeAll(async () => {
    server = new ChildServer({
      DEMO_ENABLED: "true",
      // Only another origin listed: the page still connects, being served by the server itself.
      CORS_ORIGINS: "https://app.example",
      MAX_CONNECTIONS_PER_USER: "1",
    });
    await server.start();
    profile = mkdtempSync(join(tmpdir(), "rt-chromium-"));
    browser = await chromium.launch({
      executablePath: binaries?.chromium,
      args: ["--headless", "--no-sandbox", "--disable-gpu", `--disk-cache-dir=${join(profile, "cache")}`],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.kill();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("shows why it cannot connect instead of hanging on Connecting…", async () => {
    const first = await (await browser.newContext()).newPage();
    await enter(first, server.url, "Carol");
    // The same user again, over the server's one-connection limit: refused at every attempt.
    const second = await (await browser.newContext()).newPage();
    await second.goto(`${server.url}/demo`);
    await second.fill("#name", "Carol");
    await second.click("#login-form button[type=submit]");
    const banner = second.locator("#connection-error");
    await banner.waitFor({ state: "visible", timeout: STEP_MS });
    expect(await banner.textContent()).toContain("TOO_MANY_CONNECTIONS");
    expect(await second.getAttribute("#connection", "data-status")).toBe("connecting");
    // Once the first page leaves, the second one gets in and the banner goes.
    await first.close();
    await second.locator('#connection[data-status="connected"]').waitFor({ timeout: 30_000 });
    expect(await banner.isHidden()).toBe(true);
  }, 60_000);
});
