// The package's build (`npm run build`, and `npm pack` through prepack) into dist/:
//   index.js    the SDK as one ES module for bundlers and Node; socket.io-client stays an import
//   browser.js  one minified ES module with socket.io-client inside, for pages without a bundler
//   *.d.ts      the SDK's declarations, and in protocol/ the copy of the wire contract's types
//               (src/protocol) they refer to: the package needs no file outside itself.
// It fails when the bundle or the declarations would reach anything but the SDK, the contract's
// plain files and socket.io-client (a server module, zod).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, posix, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build, transform } from "esbuild";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const repoRoot = resolve(packageDir, "../..");
const dist = join(packageDir, "dist");
const { dependencies } = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
const allowedImports = new Set(Object.keys(dependencies));

/** Where a file of the repository goes in dist/, by its path from the repository's root. */
const destinations = [
  { from: "packages/client/src/", to: "" },
  { from: "src/protocol/", to: "protocol/" },
];
function destinationOf(pathFromRoot) {
  const rule = destinations.find(({ from }) => pathFromRoot.startsWith(from));
  return rule && posix.join(rule.to, pathFromRoot.slice(rule.from.length));
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await bundle();
declarations();
await reportSize();

async function bundle() {
  const common = {
    absWorkingDir: repoRoot,
    entryPoints: ["packages/client/src/index.ts"],
    bundle: true,
    format: "esm",
    target: ["es2020", "chrome100", "firefox100", "safari15"],
    legalComments: "none",
    logLevel: "warning",
    metafile: true,
  };
  const library = await build({
    ...common,
    platform: "neutral",
    external: [...allowedImports],
    sourcemap: "linked",
    outfile: join(dist, "index.js"),
  });
  // No source map: it would be four times the file, mostly socket.io-client's sources.
  const browser = await build({
    ...common,
    platform: "browser",
    minify: true,
    outfile: join(dist, "browser.js"),
  });
  for (const [name, result] of [
    ["index.js", library],
    ["browser.js", browser],
  ]) {
    for (const input of Object.keys(result.metafile.inputs)) {
      // browser.js holds socket.io-client's tree; index.js imports it and holds no package.
      const firstParty = !input.split("/").includes("node_modules");
      if ((firstParty || name === "index.js") && !destinationOf(input))
        throw new Error(
          `${name} would bundle ${input}: the SDK takes only src/protocol and socket.io-client`,
        );
    }
  }
}

/**
 * tsc writes the declarations under the repository's layout (rootDir is the repository); from
 * them, index.d.ts and every declaration it reaches are copied into dist/.
 */
function declarations() {
  const staging = mkdtempSync(join(tmpdir(), "client-dts-"));
  try {
    const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin/tsc");
    const tsconfig = join(packageDir, "tsconfig.build.json");
    execFileSync(process.execPath, [tsc, "-p", tsconfig, "--outDir", staging], { stdio: "inherit" });
    const pending = ["packages/client/src/index.d.ts"];
    const copied = new Set();
    while (pending.length > 0) {
      const file = pending.pop();
      if (copied.has(file)) continue;
      copied.add(file);
      const target = join(dist, destinationOf(file));
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, rewriteImports(file, readFileSync(join(staging, file), "utf8"), pending));
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * A declaration's imports pointed at where their targets land in dist/ (each target queued for
 * copying), or an error for an import of anything but a shipped file or a dependency.
 */
function rewriteImports(file, text, pending) {
  if (text.includes("/// <reference"))
    throw new Error(`${file} refers to ambient types (a /// <reference>): the package brings none`);
  return text.replace(/(\bfrom\s*|\bimport\s*\(\s*)"([^"]+)"/g, (_, lead, specifier) => {
    if (!specifier.startsWith(".")) {
      if (!allowedImports.has(specifier))
        throw new Error(`${file} imports ${specifier}: the package depends on ${[...allowedImports]} only`);
      return `${lead}"${specifier}"`;
    }
    if (!specifier.endsWith(".js")) throw new Error(`${file}: unexpected import ${specifier}`);
    const imported = posix.join(posix.dirname(file), specifier.replace(/\.js$/, ".d.ts"));
    const from = destinationOf(file);
    const to = destinationOf(imported);
    if (!to) throw new Error(`${file} imports ${imported}: only the SDK and src/protocol may ship`);
    pending.push(imported);
    const path = posix.relative(posix.dirname(from), to).replace(/\.d\.ts$/, ".js");
    return `${lead}"${path.startsWith(".") ? path : `./${path}`}"`;
  });
}

/** Measured as test/client/package.test.ts measures the packed files, and the READMEs state. */
async function reportSize() {
  const minifiedLibrary = await transform(readFileSync(join(dist, "index.js"), "utf8"), { minify: true });
  for (const [what, bytes] of [
    ["dist/index.js minified (socket.io-client imported)", Buffer.from(minifiedLibrary.code)],
    ["dist/browser.js (socket.io-client included)", readFileSync(join(dist, "browser.js"))],
  ]) {
    const kB = (n) => (n / 1000).toFixed(1);
    console.log(`client: ${what}: ${kB(bytes.length)} kB minified, ${kB(gzipSync(bytes).length)} kB gzipped`);
  }
}
