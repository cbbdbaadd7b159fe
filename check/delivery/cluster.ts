import type { Redis } from "ioredis";
import { ChildServer } from "../../test/helpers/child-server.js";
import { RedisServer } from "../../test/helpers/redis-server.js";
import { TcpProxy } from "../../test/helpers/tcp-proxy.js";
import { TEST_JWT_SECRET } from "../../test/helpers/tokens.js";

/** The instance's Redis connections, told apart by the name each sends first (`CLIENT SETNAME rt-socket:<role>`). */
export type RedisRole = "cmd" | "pub" | "sub";
export const REDIS_ROLES: readonly RedisRole[] = ["cmd", "pub", "sub"];

export function redisRoleOf(head: string): string | undefined {
  return /rt-socket:([a-z]+)/.exec(head)?.[1];
}

export const CHECK_KEY_PREFIX = "rtcheck:";
export const CHECK_API_KEY = "delivery-check-internal-api-key-0123456789";
export const CHECK_JWT_SECRET = TEST_JWT_SECRET;

/** One service instance: the built server as a child process, its Redis connections through its own proxy. */
export class Instance {
  readonly server: ChildServer;
  alive = false;

  constructor(
    readonly name: string,
    readonly redisLink: TcpProxy,
    env: Record<string, string>,
  ) {
    this.server = new ChildServer({
      ...env,
      INSTANCE_ID: `check-${name}`,
      REDIS_URL: `redis://127.0.0.1:${redisLink.port}`,
    });
  }

  get port(): number {
    return this.server.port;
  }

  get url(): string {
    return this.server.url;
  }

  /** Starts (or restarts, on the same port) and waits until it listens. */
  async start(): Promise<void> {
    await this.server.start(20_000);
    this.alive = true;
  }

  /** SIGKILL: no drain, no goodbye to clients or Redis. */
  async kill(): Promise<void> {
    this.alive = false;
    await this.server.kill();
  }
}

export interface ClusterOptions {
  instances: number;
  /** Environment of every instance on top of the checker's own. */
  env: Record<string, string>;
}

/**
 * The system under test: one private durable redis-server (`appendonly yes`,
 * `appendfsync always`) and N built instances, each reaching Redis through its own TCP
 * proxy so that each instance's links can be faulted alone.
 */
export class Cluster {
  readonly instances: Instance[] = [];
  /** Direct to Redis, never through a proxy: for faults and for the final reading. */
  admin!: Redis;

  private constructor(readonly redis: RedisServer) {}

  static async start(options: ClusterOptions): Promise<Cluster> {
    const cluster = new Cluster(new RedisServer({ durable: true }));
    try {
      await cluster.redis.start();
      cluster.admin = cluster.redis.client();
      const env = {
        REDIS_KEY_PREFIX: CHECK_KEY_PREFIX,
        INTERNAL_API_KEY: CHECK_API_KEY,
        JWT_SECRET: CHECK_JWT_SECRET,
        ...options.env,
      };
      for (let i = 0; i < options.instances; i++) {
        const name = String.fromCharCode(97 + i);
        const link = await new TcpProxy({ route: () => cluster.redis.port, classify: redisRoleOf }).start();
        cluster.instances.push(new Instance(name, link, env));
      }
      await Promise.all(cluster.instances.map((instance) => instance.start()));
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  alive(): Instance[] {
    return this.instances.filter((instance) => instance.alive);
  }

  /** Redis crashes (SIGKILL) and comes back on the same port with its append-only file. */
  async restartRedis(downMs: number): Promise<void> {
    await this.redis.stop("SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.redis.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.instances.map((instance) => instance.kill()));
    await Promise.all(this.instances.map((instance) => instance.redisLink.stop()));
    this.admin?.disconnect();
    await this.redis.destroy();
  }
}
