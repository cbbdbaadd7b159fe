// Dependency gate (CI): the packages with known CVEs must be at or above their fixed
// versions everywhere in the tree, and `npm audit --omit=dev` must report no high or
// critical advisory. When the registry's audit endpoint cannot be reached, that is said
// loudly and the version floor still applies.
import { execFileSync, spawnSync } from "node:child_process";

const floors = { "socket.io-parser": "4.2.6", "engine.io": "6.6.9", ws: "8.21.0" };

const cmp = (a, b) => {
  const pa = a.split(/[.-]/).map(Number);
  const pb = b.split(/[.-]/).map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
};

const tree = JSON.parse(
  execFileSync("npm", ["ls", "--all", "--json"], { encoding: "utf8", maxBuffer: 64 << 20 }),
);
const found = new Map();
const walk = (deps) => {
  for (const [name, info] of Object.entries(deps ?? {})) {
    if (name in floors && info.version) found.set(`${name}@${info.version}`, [name, info.version]);
    walk(info.dependencies);
  }
};
walk(tree.dependencies);

let failed = false;
for (const name of Object.keys(floors)) {
  const versions = [...found.values()].filter(([n]) => n === name).map(([, v]) => v);
  if (versions.length === 0) {
    console.error(`check-deps: ${name} is not installed`);
    failed = true;
  }
  for (const version of versions) {
    const ok = cmp(version, floors[name]) >= 0;
    console.log(`check-deps: ${name}@${version} ${ok ? "ok" : `BELOW ${floors[name]}`}`);
    if (!ok) failed = true;
  }
}

const audit = spawnSync("npm", ["audit", "--omit=dev", "--audit-level=high", "--json"], { encoding: "utf8" });
let report;
try {
  report = JSON.parse(audit.stdout);
} catch {
  report = undefined;
}
if (report?.metadata?.vulnerabilities) {
  const { high = 0, critical = 0 } = report.metadata.vulnerabilities;
  console.log(`check-deps: npm audit --omit=dev: ${high} high, ${critical} critical`);
  if (high + critical > 0) failed = true;
} else {
  const reason = report?.error?.summary || report?.message || "no answer";
  console.warn(
    `check-deps: WARNING: npm audit could not run here (${reason}); only the version floors were checked`,
  );
}

if (failed) process.exit(1);
