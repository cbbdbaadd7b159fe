import { TcpProxy } from "./tcp-proxy.js";

/** An instance's Redis connections, by the name each one sets (`rt-socket:<role>`). */
export type LinkRole = "cmd" | "pub" | "sub";

const NAME = /rt-socket:(cmd|pub|sub)/;

/**
 * A TCP proxy in front of Redis for one service instance, so a test can fault that
 * instance's links one by one: delay or stall a role's traffic (in order), drop the
 * replies (the server acts, the instance never hears back), or cut the links. Connections
 * are told apart by the name ioredis sets as it connects.
 */
/** One chunk one of the instance's links carried, as the instance saw it. */
export interface LinkChunk {
  role: string | undefined;
  direction: "up" | "down";
  text: string;
}

export class RedisLinkProxy {
  private readonly proxy: TcpProxy;
  /** Every chunk since `record` was called, when it was. */
  traffic: LinkChunk[] | undefined;

  constructor(target: { port: number }) {
    this.proxy = new TcpProxy({
      route: () => target.port,
      classify: (head) => NAME.exec(head)?.[1],
      observe: (role, direction, chunk) =>
        this.traffic?.push({ role, direction, text: chunk.toString("latin1") }),
    });
  }

  /** Keep what the links carry from now on (`traffic`), cleared. */
  record(): void {
    this.traffic = [];
  }

  /**
   * How many times the role's links sent after hearing back: the round trips the instance
   * waited for. Commands sent before any reply came back count as one.
   */
  roundTrips(role: LinkRole, chunks: readonly LinkChunk[] = this.traffic ?? []): number {
    let trips = 0;
    let heard = true;
    for (const chunk of chunks) {
      if (chunk.role !== role) continue;
      if (chunk.direction === "down") heard = true;
      else if (heard) {
        trips += 1;
        heard = false;
      }
    }
    return trips;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.proxy.port}`;
  }

  async start(): Promise<this> {
    await this.proxy.start();
    return this;
  }

  /** Everything the role's links carry arrives `ms` later, in order. */
  delay(role: LinkRole, ms: number): void {
    this.proxy.shape(role, { delayMs: ms });
  }

  /** Hold the role's traffic until `resume` (a hung link). */
  stall(role: LinkRole): void {
    this.proxy.shape(role, { stalled: true });
  }

  /** Redis executes the role's commands, but their replies never reach the instance. */
  holdReplies(role: LinkRole): void {
    this.proxy.shape(role, { dropReplies: true });
  }

  /** Like `holdReplies`, from the first command that contains `text` on (that one's reply included). */
  holdRepliesFrom(role: LinkRole, text: string): void {
    this.proxy.shape(role, { dropRepliesFrom: text });
  }

  /**
   * Back to normal. Links whose replies were dropped are cut: their client would pair every
   * later reply with the wrong command.
   */
  resume(role: LinkRole): void {
    const dropping = this.proxy.shapeOf(role).dropReplies;
    this.proxy.cut((c) => c.tag === role && (dropping || c.dropping));
    this.proxy.clear(role);
  }

  cut(role: LinkRole): void {
    this.proxy.cut((c) => c.tag === role);
  }

  async stop(): Promise<void> {
    await this.proxy.stop();
  }
}
