// The browser side of `npm run build`: the demo page (web/demo + the SDK) into
// dist/public/demo/, served at /demo, and a browser bundle of the SDK in dist/client/.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { build } from "esbuild";

const out = "dist/public/demo";
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const browser = {
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
};

await build({ ...browser, entryPoints: ["web/demo/main.ts"], outfile: `${out}/app.js` });
for (const file of ["index.html", "styles.css", "favicon.svg"])
  copyFileSync(`web/demo/${file}`, `${out}/${file}`);

// socket.io-client included: one file for pages that use the SDK without a bundler.
await build({
  ...browser,
  entryPoints: ["src/client/index.ts"],
  outfile: "dist/client/realtime-client.browser.js",
});
