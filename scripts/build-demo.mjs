// The browser side of `npm run build`: the demo page (web/demo + the SDK's sources) into
// dist/public/demo/, served at /demo. The SDK's own bundles are the client package's build.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { build } from "esbuild";

const out = "dist/public/demo";
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: ["web/demo/main.ts"],
  outfile: `${out}/app.js`,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
});
for (const file of ["index.html", "styles.css", "favicon.svg"])
  copyFileSync(`web/demo/${file}`, `${out}/${file}`);
