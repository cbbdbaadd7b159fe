import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/**
 * The system programs some tests need beyond Node.js and redis-server. On a machine
 * without one, the tests that need it are skipped with a loud warning (the README's
 * `npm test` must pass on a fresh machine); with REQUIRE_ALL_TESTS=1 (`.ci/run`) a missing
 * one fails the run instead, so CI never passes by skipping.
 */
export const SYSTEM_BINARIES = {
  nginx: {
    env: "NGINX_PATH",
    names: ["nginx"],
    // Debian installs it in sbin, which a user's PATH often lacks.
    dirs: ["/usr/sbin", "/sbin"],
    install: "apt-get install nginx-light",
  },
  chromium: {
    env: "CHROMIUM_PATH",
    names: ["chromium", "chromium-browser"],
    dirs: [],
    install: "apt-get install chromium",
  },
  openssl: { env: "OPENSSL_PATH", names: ["openssl"], dirs: [], install: "apt-get install openssl" },
  // The README's curl commands, run as written.
  curl: { env: "CURL_PATH", names: ["curl"], dirs: [], install: "apt-get install curl" },
} as const;

export type SystemBinary = keyof typeof SYSTEM_BINARIES;

/** Read when asked, not at import: a test of this helper sets it. */
export const requireAllTests = (): boolean => process.env.REQUIRE_ALL_TESTS === "1";

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * Where a binary is: `<NAME>_PATH` when set (a path that does not exist hides the binary,
 * to see the skips on a machine that has it), else the first match on PATH, else the
 * binary's usual directories.
 */
export function findBinary(binary: SystemBinary): string | undefined {
  const spec = SYSTEM_BINARIES[binary];
  const explicit = process.env[spec.env];
  if (explicit !== undefined && explicit !== "") return isExecutable(explicit) ? explicit : undefined;
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...spec.dirs];
  for (const dir of dirs) {
    for (const name of spec.names) {
      const path = join(dir, name);
      if (isExecutable(path)) return path;
    }
  }
  return undefined;
}

const howToGet = (binary: SystemBinary): string =>
  `${SYSTEM_BINARIES[binary].install}, or set ${SYSTEM_BINARIES[binary].env}`;

/**
 * The paths of the binaries a test file needs, or undefined when one is missing (the
 * caller skips, this warns). Throws when REQUIRE_ALL_TESTS=1 and one is missing.
 */
export function systemBinaries<B extends SystemBinary>(
  what: string,
  ...binaries: B[]
): Record<B, string> | undefined {
  const found = {} as Record<B, string>;
  const missing: B[] = [];
  for (const binary of binaries) {
    const path = findBinary(binary);
    if (path === undefined) missing.push(binary);
    else found[binary] = path;
  }
  if (missing.length === 0) return found;
  if (requireAllTests()) {
    const needs = missing.map((binary) => `${binary} (${howToGet(binary)})`).join(", ");
    throw new Error(`REQUIRE_ALL_TESTS=1: ${what} needs ${needs}, which this machine does not have`);
  }
  const lines = missing.map((binary) => `!! WARNING: SKIPPED ${what}: no ${binary} (${howToGet(binary)})`);
  const rule = "!".repeat(72);
  console.warn(`\n${rule}\n${lines.join("\n")}\n${rule}\n`);
  return undefined;
}
