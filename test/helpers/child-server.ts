import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TEST_JWT_SECRET } from "./tokens.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
export const DIST_MAIN = `${root}dist/main.js`;

/**
 * The built server (`dist/main.js`) as a child process, as production runs it: for
 * tests that kill, signal or restart an instance. `npm test` builds first (pretest).
 */
export class ChildServer {
  private child: ChildProcess | undefined;
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  port = 0;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(readonly env: Record<string, string>) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(timeoutMs = 10_000): Promise<this> {
    if (!existsSync(DIST_MAIN))
      throw new Error("dist/main.js is missing: run `npm run build` (npm test does)");
    this.exitCode = null;
    this.exitSignal = null;
    // A restart must wait for its own "listening" line, not find the previous run's.
    const firstLine = this.lines.length;
    const child = spawn(process.execPath, [DIST_MAIN], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? "",
        NODE_ENV: "test",
        HOST: "127.0.0.1",
        PORT: this.port ? String(this.port) : "0",
        LOG_LEVEL: "info",
        JWT_SECRET: TEST_JWT_SECRET,
        CORS_ORIGINS: "http://allowed.test",
        RATE_CONNECT_PER_IP_PER_MIN: "1000000",
        ...this.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      }),
    );
    let buffer = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk;
      let index = buffer.indexOf("\n");
      while (index >= 0) {
        const line = buffer.slice(0, index);
        buffer = buffer.slice(index + 1);
        index = buffer.indexOf("\n");
        if (!line) continue;
        this.raw.push(line);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON: kept in raw
        }
      }
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => this.raw.push(chunk));

    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const listening = this.lines.slice(firstLine).find((l) => l.msg === "listening");
      if (listening) {
        this.port = listening.port as number;
        return this;
      }
      if (this.exitCode !== null || this.exitSignal !== null) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`server did not start:\n${this.raw.slice(-20).join("\n")}`);
  }

  /** Send a signal and wait for the process to exit; resolves with its exit code. */
  async signal(signal: NodeJS.Signals): Promise<number | null> {
    this.child?.kill(signal);
    await this.exited;
    return this.exitCode;
  }

  async waitForExit(): Promise<void> {
    await this.exited;
  }

  /** Kill whatever is left (teardown). */
  async kill(): Promise<void> {
    if (this.child && this.exitCode === null && this.exitSignal === null) {
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }
}
