import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    // Repeats, at the end of the run, which suites were skipped for a missing system binary.
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: more workers only make the real-time tests slower and flakier.
    maxWorkers: 2,
    pool: "forks",
  },
});
