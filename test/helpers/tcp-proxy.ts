import { type AddressInfo, createConnection, createServer, type Server, type Socket } from "node:net";

/** What a link does to the bytes crossing it, in both directions. */
export interface LinkShape {
  /** Added to every chunk, in order (a chunk never overtakes an earlier one). */
  delayMs: number;
  /** Nothing crosses until released; what was held then goes through, in order. */
  stalled: boolean;
  /** The server's replies are dropped: it acts on the client's requests, the client never hears back. */
  dropReplies: boolean;
  /** Drop the replies from the first client chunk that contains this text on (that one's reply included). */
  dropRepliesFrom: string | undefined;
}

const CLEAR: LinkShape = { delayMs: 0, stalled: false, dropReplies: false, dropRepliesFrom: undefined };
/** How much of what a client sends first is searched for its name. */
const HEAD_LIMIT = 4096;
/** The tag of a connection whose first bytes named nothing. */
export const UNTAGGED = "other";

export interface TcpProxyOptions {
  /** The 127.0.0.1 port a new connection goes to; undefined refuses it (the client sees a reset). */
  route(): number | undefined;
  /** Names a connection from the first bytes its client sent (undefined: cannot tell yet). */
  classify?(head: string): string | undefined;
  /**
   * Sees every chunk as the client does: what it sends when it sends it ("up"), what it
   * receives when it receives it ("down", after the link's delay).
   */
  observe?(tag: string | undefined, direction: "up" | "down", chunk: Buffer): void;
}

/** One direction of one connection: a FIFO that honours the link's shape. */
class ShapedPipe {
  private readonly queue: { chunk: Buffer; at: number }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly to: Socket,
    private readonly shape: () => LinkShape,
    private readonly delivered: (chunk: Buffer) => void = () => {},
  ) {}

  private write(chunk: Buffer): void {
    this.to.write(chunk);
    this.delivered(chunk);
  }

  push(chunk: Buffer): void {
    const { delayMs, stalled } = this.shape();
    if (this.queue.length === 0 && delayMs === 0 && !stalled) {
      this.write(chunk);
      return;
    }
    this.queue.push({ chunk, at: Date.now() + delayMs });
    this.pump();
  }

  /** Write what is due; called again when the shape changes or the next chunk is due. */
  pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0) {
      if (this.shape().stalled || this.to.destroyed) return;
      const head = this.queue[0] as { chunk: Buffer; at: number };
      const wait = head.at - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), wait);
        return;
      }
      this.write(head.chunk);
      this.queue.shift();
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }
}

export class ProxyConnection {
  tag: string | undefined;
  /** Set once a `dropRepliesFrom` text crossed this connection. */
  dropping = false;
  private head = "";
  readonly pipes: ShapedPipe[] = [];

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    readonly upstreamPort: number,
  ) {}

  /** Searches the client's first bytes for its name (e.g. Redis `CLIENT SETNAME`). */
  sniff(chunk: Buffer, classify: TcpProxyOptions["classify"]): void {
    if (this.tag !== undefined) return;
    if (!classify) {
      this.tag = UNTAGGED;
      return;
    }
    this.head += chunk.toString("latin1");
    this.tag = classify(this.head) ?? (this.head.length >= HEAD_LIMIT ? UNTAGGED : undefined);
  }

  destroy(): void {
    for (const pipe of this.pipes) pipe.dispose();
    this.client.destroy();
    this.upstream.destroy();
  }
}

/**
 * A TCP proxy on 127.0.0.1 (Node `net`): every accepted connection goes to the port
 * `route()` names at that moment. Its links can be slowed, stalled or cut by tag, so a
 * fault can hit one kind of connection (a Redis subscriber, one client) and nothing else.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly live = new Set<ProxyConnection>();
  private readonly shapes = new Map<string, LinkShape>();
  port = 0;

  constructor(private readonly options: TcpProxyOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  private accept(client: Socket): void {
    client.on("error", () => {});
    const port = this.options.route();
    if (port === undefined) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: "127.0.0.1", port });
    upstream.on("error", () => {});
    const connection = new ProxyConnection(client, upstream, port);
    const shape = () => this.shapeOf(connection.tag);
    const up = new ShapedPipe(upstream, shape);
    const observe = this.options.observe;
    const down = new ShapedPipe(
      client,
      shape,
      observe && ((chunk) => observe(connection.tag, "down", chunk)),
    );
    connection.pipes.push(up, down);
    this.live.add(connection);
    client.on("data", (chunk: Buffer) => {
      connection.sniff(chunk, this.options.classify);
      this.options.observe?.(connection.tag, "up", chunk);
      const from = shape().dropRepliesFrom;
      if (from !== undefined && chunk.toString("latin1").includes(from)) connection.dropping = true;
      up.push(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (connection.dropping || shape().dropReplies) return;
      down.push(chunk);
    });
    const close = () => {
      this.live.delete(connection);
      connection.destroy();
    };
    client.once("close", close);
    upstream.once("close", close);
  }

  shapeOf(tag: string | undefined): LinkShape {
    return (tag !== undefined && this.shapes.get(tag)) || this.shapes.get("*") || CLEAR;
  }

  /** Shape every connection with this tag ("*": all of them), now and until cleared. */
  shape(tag: string, shape: Partial<LinkShape>): void {
    this.shapes.set(tag, { ...(this.shapes.get(tag) ?? CLEAR), ...shape });
    this.repump();
  }

  clear(tag?: string): void {
    if (tag === undefined) this.shapes.clear();
    else this.shapes.delete(tag);
    this.repump();
  }

  private repump(): void {
    for (const connection of this.live) for (const pipe of connection.pipes) pipe.pump();
  }

  connections(): ProxyConnection[] {
    return [...this.live];
  }

  /** Close matching connections at once, both sides (a network cut). Returns how many. */
  cut(match: (connection: ProxyConnection) => boolean = () => true): number {
    let count = 0;
    for (const connection of [...this.live]) {
      if (!match(connection)) continue;
      this.live.delete(connection);
      connection.destroy();
      count += 1;
    }
    return count;
  }

  async stop(): Promise<void> {
    this.cut();
    this.shapes.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
