import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedCall {
  path: string;
  authorization: string | undefined;
  body: Record<string, unknown>;
}

/** What the receiver answers a call with: a status and a JSON body, after an optional delay. */
export interface Reply {
  status?: number;
  body?: unknown;
  delayMs?: number;
}

/**
 * A real HTTP server standing for the product's backend (the access and moderation hooks
 * call it): it records every call and answers with what the test's `answer` says.
 */
export class BackendReceiver {
  readonly calls: ReceivedCall[] = [];
  answer: (call: ReceivedCall) => Reply = () => ({ status: 200, body: {} });
  private server: Server | undefined;
  private readonly pending = new Set<ServerResponse>();

  get url(): string {
    const address = this.server?.address() as AddressInfo | undefined;
    if (!address) throw new Error("the receiver is not started");
    const { port } = address;
    return `http://127.0.0.1:${port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    return this;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let raw = "";
    req.setEncoding("utf8").on("data", (chunk: string) => {
      raw += chunk;
    });
    req.on("end", () => {
      const call: ReceivedCall = {
        path: req.url ?? "/",
        authorization: req.headers.authorization,
        body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {},
      };
      this.calls.push(call);
      const reply = this.answer(call);
      this.pending.add(res);
      const send = () => {
        this.pending.delete(res);
        if (res.destroyed) return;
        res.writeHead(reply.status ?? 200, { "content-type": "application/json" });
        res.end(reply.body === undefined ? "" : JSON.stringify(reply.body));
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs).unref();
      else send();
    });
  }

  async stop(): Promise<void> {
    for (const res of this.pending) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}
