import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/**
 * Whether this run demands the tools that do not come from npm (Chromium, python3-socketio,
 * Prometheus). `.ci/run` sets E2E_REQUIRED=1: there a missing tool fails its suite. Elsewhere
 * the suite is skipped with a loud warning.
 */
export function externalToolsRequired(): boolean {
  return process.env.E2E_REQUIRED === "1";
}

export interface ToolCheck {
  /** Run the suite: the tool is there, or it is required (and its absence then fails the suite). */
  run: boolean;
  /** What is missing and how to install it; undefined when the tool is there. */
  missing: string | undefined;
}

/**
 * Decide whether a suite that needs an outside tool runs. `problem` is undefined when the tool
 * works, otherwise what is missing. Call `failIfMissing(check)` first thing in the suite.
 */
export function checkTool(suite: string, problem: string | undefined): ToolCheck {
  if (problem !== undefined && !externalToolsRequired()) {
    console.warn(`\n!!! SKIPPING ${suite}: ${problem}. Set E2E_REQUIRED=1 to make this a failure. !!!\n`);
  }
  return { run: problem === undefined || externalToolsRequired(), missing: problem };
}

export function failIfMissing(check: ToolCheck): void {
  if (check.missing !== undefined) throw new Error(`required tool missing: ${check.missing}`);
}

/** Undefined when the executable exists, otherwise the problem. */
export function executableProblem(path: string, install: string): string | undefined {
  return existsSync(path) ? undefined : `no ${path} (${install})`;
}

/** Undefined when `python` imports every module, otherwise the problem. */
export function pythonModulesProblem(python: string, modules: string[], install: string): string | undefined {
  const result = spawnSync(python, ["-c", `import ${modules.join(", ")}`], { encoding: "utf8" });
  if (result.status === 0) return undefined;
  return `${python} cannot import ${modules.join(", ")} (${install})`;
}
