import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** The key the bench's service sends to its moderation receiver. */
export const BENCH_HOOK_KEY = "bench-moderation-hook-key";

/**
 * A minimal moderation backend on 127.0.0.1, in the orchestrator's process: it reads each
 * posted message and allows it (`{"action":"allow"}`), so what the bench measures is the
 * cost of the hook's round trip, not of a moderation rule.
 */
export class ModerationReceiver {
  calls = 0;
  private server: Server | undefined;

  get url(): string {
    const address = this.server?.address() as AddressInfo | undefined;
    if (!address) throw new Error("the moderation receiver is not started");
    return `http://127.0.0.1:${address.port}/moderate`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        this.calls++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"action":"allow"}');
      });
    });
    // Each instance keeps its connections to the hook alive (undici): no handshake per message.
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}
