import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

export interface Delivery {
  webhookId: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
  at: number;
}

/** A fresh Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString("base64")}`;

/**
 * A real HTTP receiver, as a backend would write one: it verifies every request's
 * signature with the `standardwebhooks` package and records what it accepted. `answer`
 * chooses the status of the next requests (500 to make the service retry); `hold` keeps
 * requests open until released.
 */
export class WebhookReceiver {
  readonly secret = newWebhookSecret();
  /** Every accepted (2xx-answered) delivery, in arrival order, duplicates included. */
  readonly accepted: Delivery[] = [];
  /** Every request, whatever it was answered. */
  requests = 0;
  /** Requests whose signature did not verify. */
  rejected = 0;
  /** Webhook ids answered 503 once (the next request for one is treated as usual). */
  readonly refuseOnce = new Set<string>();
  status = 200;
  private held: (() => void)[] = [];
  private holding = false;
  private server: Server | undefined;
  private readonly verifier = new Webhook(this.secret);

  get url(): string {
    if (!this.server) throw new Error("the receiver is not started");
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/hooks`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req).then((status) => {
        res.statusCode = status;
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    return this;
  }

  private async handle(req: IncomingMessage): Promise<number> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    this.requests += 1;
    if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
    let payload: { type: string; timestamp: string; data: Record<string, unknown> };
    try {
      payload = this.verifier.verify(body, req.headers as Record<string, string>) as typeof payload;
    } catch {
      this.rejected += 1;
      return 400;
    }
    const id = String(req.headers["webhook-id"]);
    if (this.refuseOnce.delete(id)) return 503;
    const status = this.status;
    if (status >= 200 && status < 300) {
      this.accepted.push({ webhookId: id, ...payload, at: Date.now() });
    }
    return status;
  }

  /** Requests from now on wait until `release`. */
  hold(): void {
    this.holding = true;
  }

  /** How many requests are waiting. */
  get waiting(): number {
    return this.held.length;
  }

  release(): void {
    this.holding = false;
    for (const resolve of this.held.splice(0)) resolve();
  }

  /** The receiver's deduplicated view: one delivery per webhook-id. */
  unique(type?: string): Delivery[] {
    const seen = new Map<string, Delivery>();
    for (const d of this.accepted) if (!seen.has(d.webhookId)) seen.set(d.webhookId, d);
    return [...seen.values()].filter((d) => type === undefined || d.type === type);
  }

  of(type: string): Delivery[] {
    return this.accepted.filter((d) => d.type === type);
  }

  async close(): Promise<void> {
    this.release();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}
