import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { RedisServer } from "./redis-server.js";

const run = promisify(execFile);

/**
 * A real Redis Cluster for tests: three `redis-server --cluster-enabled yes` masters on
 * free ports, joined with `redis-cli --cluster create`, torn down by `destroy()`.
 */
export class RedisCluster {
  readonly nodes: RedisServer[] = [];

  get seeds(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(",");
  }

  async start(size = 3): Promise<this> {
    for (let i = 0; i < size; i++) {
      const node = new RedisServer({
        extraArgs: [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          "--cluster-node-timeout",
          "2000",
        ],
      });
      this.nodes.push(node);
    }
    await Promise.all(this.nodes.map((n) => n.start()));
    await run("redis-cli", [
      "--cluster",
      "create",
      ...this.seeds.split(","),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    await this.waitUntilOk(10_000);
    return this;
  }

  private async waitUntilOk(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const states = await Promise.all(
        this.nodes.map(async (n) => {
          const { stdout } = await run("redis-cli", ["-p", String(n.port), "cluster", "info"]);
          return /cluster_state:ok/.test(stdout);
        }),
      );
      if (states.every(Boolean)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("redis cluster did not reach cluster_state:ok");
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.destroy()));
  }
}
