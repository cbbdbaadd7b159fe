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
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

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
const destinationOf = (pathFromRoot) => {
  const rule = destinations.find(({ from }) => pathFromRoot.startsWith(from));
  return rule && join(dist, rule.to, pathFromRoot.slice(rule.from.length));
};

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

// --- JavaScript -------------------------------------------------------------------------------
const common = {
  absWorkingDir: repoRoot,
  entryPoints: ["packages/client/src/index.ts"],
  bundle: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
};
const library = await build({
  ...common,
  platform: "neutral",
  external: [...allowedImports],
  outfile: join(dist, "index.js"),
});
const browser = await build({
  ...common,
  platform: "browser",
  minify: true,
  // Its map would be four times its size, mostly socket.io-client's sources.
  sourcemap: false,
  outfile: join(dist, "browser.js"),
});
for (const [name, result] of [
  ["index.js", library],
  ["browser.js", browser],
]) {
  for (const input of Object.keys(result.metafile.inputs)) {
    const firstParty = !input.split("/").includes("node_modules");
    if ((firstParty || name === "index.js") && !destinationOf(input))
      throw new Error(`${name} would bundle ${input}: the SDK takes only src/protocol and socket.io-client`);
  }
}

// --- Declarations -----------------------------------------------------------------------------
const staging = mkdtempSync(join(tmpdir(), "client-dts-"));
try {
  const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", join(packageDir, "tsconfig.build.json"), "--outDir", staging], {
    stdio: "inherit",
  });
  copyDeclarations(staging);
} finally {
  rmSync(staging, { recursive: true, force: true });
}

/**
 * Copies index.d.ts and every declaration it reaches into dist/, each import rewritten to
 * where its target lands. tsc writes the declarations under the repository's layout
 * (rootDir is the repository), so an import is a path between two files of the repository.
 */
function copyDeclarations(root) {
  const pending = ["packages/client/src/index.d.ts"];
  const done = new Set();
  while (pending.length > 0) {
    const file = pending.pop();
    if (done.has(file)) continue;
    done.add(file);
    const target = destinationOf(file);
    if (!target) throw new Error(`the declarations reach ${file}: only the SDK and src/protocol may ship`);
    let text = readFileSync(join(root, file), "utf8");
    if (text.includes("/// <reference"))
      throw new Error(`${file} refers to ambient types (a /// <reference>): the package brings none`);
    text = text.replace(/(\bfrom\s*|\bimport\s*\(\s*)"([^"]+)"/g, (_, lead, specifier) => {
      if (!specifier.startsWith(".")) {
        if (!allowedImports.has(specifier))
          throw new Error(`${file} imports ${specifier}: the package depends on ${[...allowedImports]} only`);
        return `${lead}"${specifier}"`;
      }
      if (!specifier.endsWith(".js")) throw new Error(`${file}: unexpected import ${specifier}`);
      const imported = relative(root, resolve(root, dirname(file), specifier.replace(/\.js$/, ".d.ts")));
      const importedPath = imported.split(sep).join("/");
      pending.push(importedPath);
      const importedTarget = destinationOf(importedPath);
      if (!importedTarget)
        throw new Error(`${file} imports ${importedPath}: outside the SDK and src/protocol`);
      const path = relative(dirname(target), importedTarget)
        .split(sep)
        .join("/")
        .replace(/\.d\.ts$/, ".js");
      return `${lead}"${path.startsWith(".") ? path : `./${path}`}"`;
    });
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, text);
  }
}

// --- Size ---------------------------------------------------------------------------------------
const sdkAlone = await build({
  ...common,
  metafile: false,
  sourcemap: false,
  write: false,
  minify: true,
  external: [...allowedImports],
  platform: "neutral",
});
const sizes = [
  ["the SDK alone (socket.io-client imported)", sdkAlone.outputFiles[0].contents],
  ["browser.js (socket.io-client included)", readFileSync(join(dist, "browser.js"))],
];
for (const [what, bytes] of sizes) {
  const kB = (n) => (n / 1000).toFixed(1);
  console.log(`client: ${what}: ${kB(bytes.length)} kB minified, ${kB(gzipSync(bytes).length)} kB gzipped`);
}
