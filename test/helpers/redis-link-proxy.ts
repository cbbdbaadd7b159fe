import { type AddressInfo, createConnection, createServer, type Server, type Socket } from "node:net";

/** An instance's Redis connections, by the name each one sets (`rt-socket:<role>`). */
export type LinkRole = "cmd" | "pub" | "sub" | "unknown";

interface Link {
  role: LinkRole;
  client: Socket;
  upstream: Socket;
  /** Commands held back (stall) or waiting for their delay, in order. */
  pending: { at: number; data: Buffer }[];
  timer: NodeJS.Timeout | undefined;
}

interface Rule {
  delayMs: number;
  stalled: boolean;
  repliesHeld: boolean;
  /** Hold the replies from the first command that contains this text on. */
  holdRepliesFrom: string | undefined;
}

const NAME = /rt-socket:(cmd|pub|sub)/;

/**
 * A TCP proxy in front of Redis for one service instance, so a test can fault that
 * instance's links one by one: delay or stall the commands of a role (the server sees them
 * late, in order), hold the replies (the server acts, the instance never hears back), or
 * cut the links. Connections are told apart by the name ioredis sets as it connects.
 */
export class RedisLinkProxy {
  private server: Server | undefined;
  private readonly links = new Set<Link>();
  private readonly rules = new Map<LinkRole, Rule>();
  port = 0;

  constructor(private readonly target: { host?: string; port: number }) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  private rule(role: LinkRole): Rule {
    let rule = this.rules.get(role);
    if (!rule) {
      rule = { delayMs: 0, stalled: false, repliesHeld: false, holdRepliesFrom: undefined };
      this.rules.set(role, rule);
    }
    return rule;
  }

  private accept(client: Socket): void {
    const upstream = createConnection({ host: this.target.host ?? "127.0.0.1", port: this.target.port });
    const link: Link = { role: "unknown", client, upstream, pending: [], timer: undefined };
    this.links.add(link);
    for (const socket of [client, upstream]) socket.on("error", () => {});
    client.once("close", () => this.drop(link));
    upstream.once("close", () => this.drop(link));
    let head = "";
    client.on("data", (data: Buffer) => {
      if (link.role === "unknown" && head.length < 4096) {
        head += data.toString("latin1");
        const match = NAME.exec(head);
        if (match) link.role = match[1] as LinkRole;
      }
      link.pending.push({ at: Date.now(), data });
      this.flush(link);
    });
    upstream.on("data", (data: Buffer) => {
      if (!this.rule(link.role).repliesHeld) client.write(data);
    });
  }

  private flush(link: Link): void {
    clearTimeout(link.timer);
    link.timer = undefined;
    const rule = this.rule(link.role);
    if (rule.stalled) return;
    while (link.pending.length > 0) {
      const next = link.pending[0] as { at: number; data: Buffer };
      const wait = next.at + rule.delayMs - Date.now();
      if (wait > 0) {
        link.timer = setTimeout(() => this.flush(link), wait);
        return;
      }
      link.pending.shift();
      link.upstream.write(next.data);
      if (rule.holdRepliesFrom !== undefined && next.data.toString("latin1").includes(rule.holdRepliesFrom)) {
        rule.repliesHeld = true;
        rule.holdRepliesFrom = undefined;
      }
    }
  }

  private drop(link: Link): void {
    clearTimeout(link.timer);
    link.client.destroy();
    link.upstream.destroy();
    this.links.delete(link);
  }

  private each(role: LinkRole, fn: (link: Link) => void): void {
    for (const link of this.links) if (link.role === role) fn(link);
  }

  /** Every command of the role reaches Redis `ms` later than it was sent. */
  delay(role: LinkRole, ms: number): void {
    this.rule(role).delayMs = ms;
    this.each(role, (link) => this.flush(link));
  }

  /** Hold the role's commands until `resume` (a hung link: nothing reaches Redis). */
  stall(role: LinkRole): void {
    this.rule(role).stalled = true;
  }

  /** Redis executes the role's commands, but their replies never reach the instance. */
  holdReplies(role: LinkRole): void {
    this.rule(role).repliesHeld = true;
  }

  /**
   * Back to normal. Links whose replies were dropped are cut: their client would pair every
   * later reply with the wrong command.
   */
  /** Like `holdReplies`, from the first command that contains `text` on (that one's reply included). */
  holdRepliesFrom(role: LinkRole, text: string): void {
    this.rule(role).holdRepliesFrom = text;
  }

  resume(role: LinkRole): void {
    const rule = this.rule(role);
    if (rule.repliesHeld) this.cut(role);
    Object.assign(rule, { delayMs: 0, stalled: false, repliesHeld: false, holdRepliesFrom: undefined });
    this.each(role, (link) => this.flush(link));
  }

  cut(role: LinkRole): void {
    this.each(role, (link) => this.drop(link));
  }

  roles(): LinkRole[] {
    return [...this.links].map((link) => link.role);
  }

  async stop(): Promise<void> {
    for (const link of this.links) this.drop(link);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
