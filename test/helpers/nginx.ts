import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const TEMPLATE = fileURLToPath(new URL("../../deploy/nginx/socket-server.conf.template", import.meta.url));

/**
 * Debian's nginx, started by a test from the project's own template
 * (deploy/nginx/socket-server.conf.template) with local ports filled in, the way the
 * nginx image's envsubst fills it in compose.yaml.
 */
export class Nginx {
  readonly dir = mkdtempSync(join(tmpdir(), "rt-nginx-"));
  private child: ChildProcess | undefined;
  private stderr = "";

  /** `binary`: nginx's path, from `systemBinaries`. */
  constructor(
    private readonly binary: string,
    private readonly vars: Record<string, string>,
  ) {}

  /** Start nginx; on failure nothing is left behind (no process, no temp folder). */
  async start(): Promise<this> {
    try {
      return await this.launch();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private async launch(): Promise<this> {
    const snippet = readFileSync(TEMPLATE, "utf8").replace(/\$\{([A-Z_]+)\}/g, (whole, name: string) => {
      const value = this.vars[name];
      if (value === undefined) throw new Error(`no value for ${whole}`);
      return value;
    });
    for (const sub of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(this.dir, sub));
    writeFileSync(join(this.dir, "socket-server.conf"), snippet);
    writeFileSync(
      join(this.dir, "nginx.conf"),
      [
        // Workers run as the user that started nginx (root in CI) so they can use the temp dirs.
        process.getuid?.() === 0 ? "user root;" : "",
        "worker_processes 1;",
        "daemon off;",
        `pid ${join(this.dir, "nginx.pid")};`,
        `error_log ${join(this.dir, "error.log")} warn;`,
        "events { worker_connections 1024; }",
        "http {",
        "  access_log off;",
        `  client_body_temp_path ${join(this.dir, "body")};`,
        `  proxy_temp_path ${join(this.dir, "proxy")};`,
        `  fastcgi_temp_path ${join(this.dir, "fastcgi")};`,
        `  uwsgi_temp_path ${join(this.dir, "uwsgi")};`,
        `  scgi_temp_path ${join(this.dir, "scgi")};`,
        `  include ${join(this.dir, "socket-server.conf")};`,
        "}",
      ].join("\n"),
    );
    const child = spawn(this.binary, ["-p", this.dir, "-c", join(this.dir, "nginx.conf")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    // A spawn failure (ENOENT) is an 'error' event: without a listener it would be uncaught.
    let spawnError: Error | undefined;
    child.once("error", (err) => {
      spawnError = err;
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    this.child = child;
    const port = Number(this.vars.LB_HTTP_PORT);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (spawnError) throw new Error(`nginx did not start: ${spawnError.message}`);
      if (child.exitCode !== null) break;
      if (await canConnect(port)) return this;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nginx did not start: ${this.stderr}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGQUIT");
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
