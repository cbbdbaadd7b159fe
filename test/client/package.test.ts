import { execFile } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { transform } from "esbuild";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { systemBinaries } from "../helpers/system-binaries.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * The client as a project outside this repository gets it: `npm pack` in the workspace, the
 * tarball installed into a temporary project (socket.io-client from the registry), a consumer
 * type-checked with `tsc --strict` against the package alone and run against a live server.
 */

const root = fileURLToPath(new URL("../../", import.meta.url));
const packageDir = join(root, "packages/client");
const fixtures = fileURLToPath(new URL("./package-consumer/", import.meta.url));
const tsc = join(root, "node_modules/typescript/bin/tsc");
const PACKAGE = "@realtime-socket-server/client";
const execFileAsync = promisify(execFile);

/** npm as a user runs it, without the npm_* variables of an `npm test` around this run. */
const userEnv = () => Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));

async function sh(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, {
      cwd,
      env: userEnv(),
      timeout: timeoutMs,
      maxBuffer: 16 << 20,
    });
    return stdout;
  } catch (err) {
    const { stdout = "", stderr = "" } = err as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}:\n${stdout}\n${stderr}`, { cause: err });
  }
}

/** Every package name under a node_modules folder, nested ones included. */
function installedPackages(nodeModules: string): string[] {
  if (!existsSync(nodeModules)) return [];
  return readdirSync(nodeModules, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith("."))
    .flatMap((entry) =>
      entry.name.startsWith("@")
        ? readdirSync(join(nodeModules, entry.name)).map((name) => `${entry.name}/${name}`)
        : [entry.name],
    )
    .flatMap((name) => [name, ...installedPackages(join(nodeModules, name, "node_modules"))]);
}

/** The first ```ts block under the README's "## Example". */
function readmeExample(readme: string): string {
  const match = /## Example[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme);
  if (!match?.[1]) throw new Error("the package README has no ```ts block under ## Example");
  return match[1];
}

const kB = (bytes: number) => bytes / 1000;

const binaries = systemBinaries("the browser bundle's test (test/client/package.test.ts)", "chromium");

/** A page without a bundler: dist/browser.js imported as it is, the outcome left on `window`. */
const BROWSER_PAGE = `<!doctype html>
<script type="module">
  import { connect, RealtimeError } from "./browser.js";
  const params = new URLSearchParams(location.hash.slice(1));
  const client = connect({ url: params.get("url"), getToken: () => params.get("token") });
  try {
    await client.chat.join("team:browser");
    const sent = await client.chat.send("team:browser", "from the browser bundle");
    const refused = await client.chat.join("secret:vault").catch((err) => err instanceof RealtimeError && err.code);
    window.outcome = { text: sent.text, senderId: sent.senderId, refused };
  } catch (err) {
    window.outcome = { error: String(err) };
  } finally {
    client.close();
  }
</script>`;

describe("the client package, installed from its tarball outside the repository", () => {
  let consumer: string;
  let installed: string;
  let packed: { filename: string; files: { path: string }[] };
  let app: TestApp;

  beforeAll(async () => {
    consumer = mkdtempSync(join(tmpdir(), "client-consumer-"));
    expect(relative(root, consumer).startsWith("..")).toBe(true);
    // prepack builds the package: its build prints before npm's JSON.
    const out = await sh("npm", ["pack", "--json", "--pack-destination", consumer], packageDir, 180_000);
    [packed] = JSON.parse(out.slice(out.search(/^\[/m)));

    writeFileSync(
      join(consumer, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }),
    );
    for (const file of ["sample.ts", "run.mjs", "agreement.ts"])
      copyFileSync(join(fixtures, file), join(consumer, file));
    writeFileSync(
      join(consumer, "readme-example.ts"),
      readmeExample(readFileSync(join(packageDir, "README.md"), "utf8")),
    );
    // A browser-and-Node app: no Node.js types, and the package's declarations checked in full.
    const compilerOptions = {
      strict: true,
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      lib: ["ES2023", "DOM"],
      types: [],
      skipLibCheck: false,
      outDir: "out",
    };
    writeFileSync(
      join(consumer, "tsconfig.json"),
      JSON.stringify({ compilerOptions, files: ["sample.ts", "readme-example.ts"] }),
    );
    writeFileSync(
      join(consumer, "tsconfig.agreement.json"),
      JSON.stringify({
        compilerOptions: {
          ...compilerOptions,
          noEmit: true,
          rootDir: "/",
          paths: { "#server-protocol": [join(root, "src/protocol/index.ts")] },
        },
        files: ["agreement.ts"],
      }),
    );
    await sh(
      "npm",
      ["install", `./${packed.filename}`, "--no-audit", "--no-fund", "--prefer-offline"],
      consumer,
      180_000,
    );
    installed = join(consumer, "node_modules", PACKAGE);
    app = await startApp();
  }, 400_000);

  afterAll(async () => {
    await app?.close();
    if (consumer) rmSync(consumer, { recursive: true, force: true });
  });

  it("packs the built client: ES module, declarations, an exports map, socket.io-client its only dependency", () => {
    const paths = packed.files.map((file) => file.path);
    expect(paths.filter((path) => !path.startsWith("dist/")).sort()).toEqual(["README.md", "package.json"]);
    expect(paths).toEqual(
      expect.arrayContaining([
        "dist/index.js",
        "dist/index.d.ts",
        "dist/browser.js",
        "dist/protocol.d.ts",
        "dist/protocol/events.d.ts",
      ]),
    );
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    expect(manifest).toMatchObject({
      name: PACKAGE,
      type: "module",
      exports: { ".": { types: "./dist/index.d.ts", default: "./dist/index.js" } },
    });
    expect(Object.keys(manifest.dependencies)).toEqual(["socket.io-client"]);
  });

  it("installs no server dependency", () => {
    const server = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    const packages = installedPackages(join(consumer, "node_modules"));
    expect(packages).toContain("socket.io-client");
    // express, ioredis, zod, socket.io, pino, jose, …: what the server runs on.
    expect(packages.filter((name) => name in server.dependencies)).toEqual([]);
  });

  it("type-checks a consumer and the README's example with tsc --strict against the package alone", async () => {
    await sh(process.execPath, [tsc, "-p", "tsconfig.json", "--noEmit"], consumer, 120_000);
  });

  it("carries a copy of the wire contract that agrees with the server's, event by event", async () => {
    await sh(process.execPath, [tsc, "-p", "tsconfig.agreement.json"], consumer, 120_000);
  });

  it("runs against a live server: connects with a token getter, joins, sends and receives", async () => {
    await sh(process.execPath, [tsc, "-p", "tsconfig.json"], consumer, 120_000);
    const token = (user: string) => tokenFor(user, { name: user, rooms: ["team:*"] });
    const [alice, bob] = await Promise.all([token("alice"), token("bob")]);
    const out = await sh(process.execPath, ["run.mjs", app.url, alice, bob], consumer, 60_000);
    const outcome = JSON.parse(out);
    expect(outcome).toMatchObject({
      joined: "team:package",
      sent: { text: "hello from the package", senderId: "alice" },
      received: { id: outcome.sent.id, text: "hello from the package", senderId: "alice" },
      sameMessage: true,
      refused: "FORBIDDEN",
      bobOnline: "online",
    });
    expect(outcome.tokenFetches).toBeGreaterThanOrEqual(2);
  });

  it.skipIf(!binaries)(
    "runs dist/browser.js, socket.io-client inside, from a page in Chromium",
    async () => {
      // A real local server: Chromium refuses a loopback connection from a page it did not load
      // from the local network (a page fulfilled by the test, or a public one).
      const bundle = readFileSync(join(installed, "dist/browser.js"), "utf8");
      const pages = createServer((req, res) => {
        const script = req.url === "/browser.js";
        res.writeHead(200, { "content-type": script ? "text/javascript" : "text/html" });
        res.end(script ? bundle : BROWSER_PAGE);
      });
      await new Promise<void>((resolve) => pages.listen(0, "127.0.0.1", resolve));
      const pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
      const server = await startApp({ CORS_ORIGINS: pageOrigin });
      const browser = await chromium.launch({
        executablePath: binaries?.chromium,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
      });
      try {
        const page = await browser.newPage();
        const problems: string[] = [];
        page.on("pageerror", (err) => problems.push(err.message));
        page.on("console", (message) => {
          if (message.type() === "error") problems.push(message.text());
        });
        const token = await tokenFor("carol", { name: "carol", rooms: ["team:*"] });
        await page.goto(`${pageOrigin}/#url=${encodeURIComponent(server.url)}&token=${token}`);
        const outcome = await page
          .waitForFunction("window.outcome", undefined, { timeout: 60_000 })
          .catch((err: unknown) => {
            throw new Error(`the page set no outcome; it said: ${problems.join(" | ")}`, { cause: err });
          });
        expect(problems).toEqual([]);
        expect(await outcome.jsonValue()).toEqual({
          text: "from the browser bundle",
          senderId: "carol",
          refused: "FORBIDDEN",
        });
      } finally {
        await browser.close();
        await server.close();
        pages.close();
      }
    },
    90_000,
  );

  it("is as large as the READMEs say (minified and gzipped, within 10 %)", async () => {
    const measure = (bytes: Buffer) => ({ minified: kB(bytes.length), gzipped: kB(gzipSync(bytes).length) });
    const minifiedLibrary = await transform(readFileSync(join(installed, "dist/index.js"), "utf8"), {
      minify: true,
    });
    const measured = {
      "dist/browser.js": measure(readFileSync(join(installed, "dist/browser.js"))),
      "dist/index.js": measure(Buffer.from(minifiedLibrary.code)),
    };
    for (const readmePath of ["packages/client/README.md", "README.md"]) {
      const lines = readFileSync(join(root, readmePath), "utf8").split("\n");
      for (const [file, size] of Object.entries(measured)) {
        const row = lines.find((line) => line.startsWith(`| \`${file}\``)) ?? "";
        const [minified, gzipped] = [...row.matchAll(/([\d.]+) kB/g)].map((m) => Number(m[1]));
        if (minified === undefined || gzipped === undefined)
          throw new Error(`no "| \`${file}\` … | minified | gzipped |" row in ${readmePath}`);
        const stated = { minified, gzipped };
        for (const kind of ["minified", "gzipped"] as const) {
          const off = Math.abs(stated[kind] / size[kind] - 1);
          expect(
            off,
            `${readmePath}, ${file} ${kind}: ${size[kind]} kB, it says ${stated[kind]}`,
          ).toBeLessThan(0.1);
        }
      }
    }
  });
});
