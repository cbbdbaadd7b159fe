import { performance } from "node:perf_hooks";
import { signToken } from "../src/auth/sign.js";
import { Histogram } from "./histogram.js";
import type { ScaleConnectResult, ScaleStatus, WorkerCommand } from "./load-protocol.js";
import { ConnectRefusedError, WireClient } from "./wire-client.js";

type Cmd<K extends WorkerCommand["cmd"]> = Extract<WorkerCommand, { cmd: K }>;

/**
 * socket.io-client's reconnection delay with the SDK's settings (packages/client:
 * reconnectDelayMs 500, reconnectDelayMaxMs 5000, randomizationFactor 0.5): attempt n
 * waits 500 × 2^(n-1) ms ± 50 %, at most 5 s.
 */
export function transportBackoffMs(attempt: number, random = Math.random): number {
  const base = 500 * 2 ** Math.max(0, attempt - 1);
  const deviation = Math.floor(random() * 0.5 * base);
  const ms = Math.floor(random() * 10) % 2 === 0 ? base - deviation : base + deviation;
  return Math.min(ms, 5000);
}

/** The SDK after a refusal with a hint: the hint plus its backoff, jittered in the upper half. */
export function hintedBackoffMs(retryAfterMs: number, attempt: number, random = Math.random): number {
  const base = Math.min(5000, 500 * 2 ** Math.max(0, attempt - 1));
  return retryAfterMs + Math.round(base / 2 + (random() * base) / 2);
}

interface ScaleClient {
  userId: string;
  token: string;
  auth: Record<string, unknown>;
  localAddress: string;
  url: string;
  client: WireClient | undefined;
  /** Closed by the bench itself: not a loss. */
  closing: boolean;
  killed: boolean;
  back: boolean;
  attempt: number;
}

const codeOf = (err: unknown): string => {
  if (err instanceof ConnectRefusedError) {
    return (err.data as { code?: string } | undefined)?.code ?? "refused";
  }
  const message = (err as Error).message ?? String(err);
  if (/ECONNREFUSED/.test(message)) return "ECONNREFUSED";
  if (/timeout/i.test(message)) return "timeout";
  return message.slice(0, 40);
};

/**
 * Many idle authenticated clients that come back like the SDK does: a lost session is
 * reconnected after socket.io-client's backoff, a refusal with `retryAfterMs` after the
 * hint plus the SDK's jitter. After a failover they go to the surviving instances (a load
 * balancer that stopped routing to the dead one).
 */
export class ScaleClients {
  private readonly clients: ScaleClient[] = [];
  private survivors: string[] = [];
  private killedAt = 0;
  private backAfter = new Histogram();
  private refusals: Record<string, number> = {};
  private attempts = 0;
  private othersLost = 0;
  private stopped = false;

  async connect(c: Cmd<"scaleConnect">): Promise<ScaleConnectResult> {
    this.stopped = false;
    const tokens = await Promise.all(
      Array.from({ length: c.count }, (_, k) =>
        signToken(
          { sub: `${c.userPrefix}${c.firstUser + k}`, rooms: ["bench:*"] },
          { key: c.secret, expiresIn: "6h" },
        ),
      ),
    );
    const latency = new Histogram();
    const errors: string[] = [];
    const refusals: Record<string, number> = {};
    let failed = 0;
    let next = 0;
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const one = async (k: number) => {
      const n = c.firstUser + k;
      const userId = `${c.userPrefix}${n}`;
      const token = tokens[k] as string;
      const sc: ScaleClient = {
        userId,
        token,
        auth: c.sendUserId ? { token, userId } : { token },
        localAddress: c.localAddresses[k % c.localAddresses.length] as string,
        url: c.urls[n % c.urls.length] as string,
        client: undefined,
        closing: false,
        killed: false,
        back: false,
        attempt: 0,
      };
      // The ramp retries a refusal too (as the SDK would), so every client ends up connected.
      for (let attempt = 1; attempt <= 10; attempt++) {
        const t0 = performance.now();
        try {
          this.adopt(sc, await this.open(sc, c.timeoutMs));
          latency.record((performance.now() - t0) * 1000);
          return;
        } catch (err) {
          const code = codeOf(err);
          refusals[code] = (refusals[code] ?? 0) + 1;
          if (attempt === 10) {
            failed++;
            if (errors.length < 5) errors.push((err as Error).message);
            return;
          }
          await sleep(delayAfter(err, attempt));
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(c.concurrency, c.count) }, async () => {
        while (next < c.count) await one(next++);
      }),
    );
    const elapsedMs = performance.now() - started;
    const connected = c.count - failed;
    const cpu = process.cpuUsage(cpu0);
    return {
      requested: c.count,
      connected,
      failed,
      errors,
      refusals,
      elapsedMs: Math.round(elapsedMs),
      connectsPerSec: Math.round((connected / elapsedMs) * 1000),
      latency: latency.toJSON(),
      loadCpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / elapsedMs) * 100),
    };
  }

  failover(c: Cmd<"failover">): { killed: number } {
    this.survivors = c.survivors;
    this.killedAt = c.killedAt;
    let killed = 0;
    for (const sc of this.clients) {
      if (sc.url !== c.killedUrl) continue;
      sc.killed = true;
      killed++;
    }
    return { killed };
  }

  status(): ScaleStatus {
    let open = 0;
    let killed = 0;
    let back = 0;
    for (const sc of this.clients) {
      if (sc.client && !sc.client.closed) open++;
      if (sc.killed) killed++;
      if (sc.back) back++;
    }
    return {
      open,
      killed,
      back,
      backAfter: this.backAfter.toJSON(),
      refusals: { ...this.refusals },
      attempts: this.attempts,
      othersLost: this.othersLost,
    };
  }

  close(): { closed: number } {
    this.stopped = true;
    let closed = 0;
    for (const sc of this.clients) {
      sc.closing = true;
      if (sc.client && !sc.client.closed) {
        sc.client.close();
        closed++;
      }
    }
    this.clients.length = 0;
    return { closed };
  }

  private open(sc: ScaleClient, timeoutMs = 20_000): Promise<WireClient> {
    return WireClient.connect(sc.url, { auth: sc.auth, localAddress: sc.localAddress, timeoutMs });
  }

  private adopt(sc: ScaleClient, client: WireClient): void {
    sc.client = client;
    if (!this.clients.includes(sc)) this.clients.push(sc);
    client.onClose = () => {
      if (sc.closing || this.stopped) return;
      if (!sc.killed) this.othersLost++;
      sc.attempt = 0;
      this.scheduleReconnect(sc, transportBackoffMs(1));
    };
  }

  private scheduleReconnect(sc: ScaleClient, delayMs: number): void {
    setTimeout(() => void this.reconnect(sc), delayMs).unref();
  }

  private async reconnect(sc: ScaleClient): Promise<void> {
    if (this.stopped) return;
    sc.attempt++;
    this.attempts++;
    // The load balancer sends new connections to the instances still alive.
    if (this.survivors.length > 0 && !this.survivors.includes(sc.url)) {
      sc.url = this.survivors[this.clients.indexOf(sc) % this.survivors.length] as string;
    }
    try {
      const client = await this.open(sc);
      if (sc.killed && !sc.back) {
        sc.back = true;
        this.backAfter.record((Date.now() - this.killedAt) * 1000);
      }
      this.adopt(sc, client);
    } catch (err) {
      const code = codeOf(err);
      this.refusals[code] = (this.refusals[code] ?? 0) + 1;
      this.scheduleReconnect(sc, delayAfter(err, sc.attempt + 1));
    }
  }
}

/** What the SDK waits after a failed attempt: the server's hint plus jitter, or its backoff. */
function delayAfter(err: unknown, attempt: number): number {
  const hint =
    err instanceof ConnectRefusedError ? (err.data as { retryAfterMs?: number })?.retryAfterMs : undefined;
  return typeof hint === "number" ? hintedBackoffMs(hint, attempt) : transportBackoffMs(attempt);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
