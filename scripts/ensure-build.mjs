// `npm start` builds first when dist/ is missing or older than its sources, so a newcomer's
// `npm ci && npm start` just works (demo page included). In a production image dist/ is
// prebuilt and kept.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, entry) => {
    const path = join(dir, entry.name);
    return Math.max(max, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }, 0);
const mtime = (path) => (existsSync(path) ? statSync(path).mtimeMs : 0);

const entry = "dist/main.js";
const stale = !existsSync(entry) || (existsSync("src") && newest("src") > mtime(entry));
if (stale) {
  if (!existsSync("node_modules/typescript")) {
    console.error("dist/ is missing or stale and TypeScript is not installed: run `npm ci` first");
    process.exit(1);
  }
  console.error("building dist/ ...");
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], {
    stdio: "inherit",
  });
}

// The demo page is built from web/ and the SDK's sources (packages/client/src, src/protocol).
const page = "dist/public/demo/app.js";
const pageSources = ["web", "packages/client/src", "src/protocol"].filter((dir) => existsSync(dir));
if (existsSync("web") && (!existsSync(page) || Math.max(...pageSources.map(newest)) > mtime(page))) {
  if (!existsSync("node_modules/esbuild")) {
    console.error(
      "the demo page is not built and esbuild is not installed: run `npm ci`, then `npm run build`",
    );
  } else {
    console.error("building the demo page ...");
    execFileSync(process.execPath, ["scripts/build-demo.mjs"], { stdio: "inherit" });
  }
}
