import { TcpProxy } from "../../test/helpers/tcp-proxy.js";
import type { Cluster, Instance } from "./cluster.js";
import type { Random } from "./random.js";

/**
 * The network between one client and the service: a TCP proxy that sends each new
 * connection to a random live instance (as a load balancer without stickiness would) and
 * can be cut at any moment, so the client reconnects, most often somewhere else.
 */
export class ClientLink {
  private readonly proxy: TcpProxy;
  private steered: Instance | undefined;
  /** The instance of every connection, in order. */
  readonly routed: string[] = [];
  cuts = 0;

  constructor(
    private readonly cluster: Cluster,
    private readonly random: Random,
  ) {
    this.proxy = new TcpProxy({ route: () => this.route() });
  }

  async start(): Promise<this> {
    await this.proxy.start();
    return this;
  }

  get url(): string {
    return this.proxy.url;
  }

  private route(): number | undefined {
    const steered = this.steered;
    this.steered = undefined;
    const alive = this.cluster.alive();
    const target = steered?.alive ? steered : alive.length > 0 ? this.random.pick(alive) : undefined;
    if (target) this.routed.push(target.name);
    return target?.port;
  }

  /** The next connection goes to this instance (a fault that needs the client there). */
  steerNext(instance: Instance): void {
    this.steered = instance;
  }

  /** Cuts the client's connection; false when it had none at that moment. */
  cut(): boolean {
    if (this.proxy.cut() === 0) return false;
    this.cuts += 1;
    return true;
  }

  stop(): Promise<void> {
    return this.proxy.stop();
  }
}
