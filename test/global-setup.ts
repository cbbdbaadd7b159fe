import {
  findBinary,
  requireAllTests,
  SYSTEM_BINARIES,
  type SystemBinary,
} from "./helpers/system-binaries.js";

/**
 * Skipped suites are announced where they are skipped, in the middle of the run's output;
 * this repeats them once at the end, where nobody can miss them.
 */
export default function setup(): () => void {
  return () => {
    if (requireAllTests()) return;
    const missing = (Object.keys(SYSTEM_BINARIES) as SystemBinary[]).filter(
      (b) => findBinary(b) === undefined,
    );
    if (missing.length === 0) return;
    const lines = missing.map(
      (b) =>
        `!! WARNING: no ${b} on this machine: the tests that need it were SKIPPED (${SYSTEM_BINARIES[b].install})`,
    );
    const rule = "!".repeat(72);
    console.warn(
      `\n${rule}\n${lines.join("\n")}\n!! REQUIRE_ALL_TESTS=1 (as .ci/run sets) makes them fail instead.\n${rule}\n`,
    );
  };
}
