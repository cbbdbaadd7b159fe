// `npm start` builds first when dist/ is missing or older than src/, so a newcomer's
// `npm ci && npm start` just works. In a production image dist/ is prebuilt and kept.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, entry) => {
    const path = join(dir, entry.name);
    return Math.max(max, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }, 0);

const entry = "dist/main.js";
const stale = !existsSync(entry) || (existsSync("src") && newest("src") > statSync(entry).mtimeMs);
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
