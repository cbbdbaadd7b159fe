import { performance } from "node:perf_hooks";
import { CLIENT_DEFAULTS } from "../packages/client/src/client.js";
import { backoffDelayMs } from "../packages/client/src/token.js";
import { signToken } from "../src/auth/sign.js";
import { Histogram } from "./histogram.js";
import type { ScaleConnectResult, ScaleStatus, WorkerCommand } from "./load-protocol.js";
import { ConnectRefusedError, WireClient } from "./wire-client.js";

type Cmd<K extends WorkerCommand["cmd"]> = Extract<WorkerCommand, { cmd: K }>;

/** The SDK's default backoff (reconnectDelayMs 500, reconnectDelayMaxMs 5000). */
const SDK_BACKOFF = { minMs: CLIENT_DEFAULTS.reconnectDelayMs, maxMs: CLIENT_DEFAULTS.reconnectDelayMaxMs };
/** How long the SDK lets one connection attempt take (connectTimeoutMs, socket.io-client's `timeout`). */
const SDK_CONNECT_TIMEOUT_MS = CLIENT_DEFAULTS.connectTimeoutMs;

/**
 * The SDK's delay before attempt n after a lost connection or a failed attempt: between
 * half and all of min(5 s, 500 ms × 2^(n−1)).
 */
export function transportBackoffMs(attempt: number, random = Math.random): number {
  return backoffDelayMs(attempt, { ...SDK_BACKOFF, random });
}

/** The SDK after a refusal with a hint: the hint plus its backoff for the next attempt. */
export function hintedBackoffMs(retryAfterMs: number, attempt: number, random = Math.random): number {
  return retryAfterMs + backoffDelayMs(attempt, { ...SDK_BACKOFF, random });
}

/**
 * Source ports chosen by the load generator. With a source address and no port, the kernel
 * picks a free ephemeral port by scanning the ones in use: measured here, a connect()
 * from an address holding 9,000–12,000 sockets costs about 0.85 ms of the generator's
 * event loop and grows with every socket, against a constant 75 µs with the port given.
 * At the full scale size that scan, not the servers, was what the clients waited on.
 */
export class PortPool {
  private readonly used = new Map<string, Set<number>>();
  private readonly next = new Map<string, number>();

  constructor(
    private readonly first: number,
    private readonly end: number,
  ) {}

  take(address: string): number {
    let used = this.used.get(address);
    if (!used) {
      used = new Set();
      this.used.set(address, used);
    }
    if (used.size >= this.end - this.first) throw new Error(`no free source port on ${address}`);
    let port = this.next.get(address) ?? this.first;
    while (used.has(port)) port = port + 1 >= this.end ? this.first : port + 1;
    used.add(port);
    this.next.set(address, port + 1 >= this.end ? this.first : port + 1);
    return port;
  }

  release(address: string, port: number): void {
    this.used.get(address)?.delete(port);
  }
}

interface ScaleClient {
  /** Its place among this worker's clients: spreads them over the survivors. */
  index: number;
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
  /** The source port of the current connection (0: none). */
  localPort: number;
  /** Why its last attempt failed. */
  lastError: string;
  /** What a client not yet back is doing: waiting for its next attempt, or in one. */
  phase: "open" | "waiting" | "connecting";
  /** Since the kill: the time this client chose to wait itself (its backoff draws, not a server's hint). */
  ownWaitMs: number;
}

const codeOf = (err: unknown): string => {
  if (err instanceof ConnectRefusedError) {
    return (err.data as { code?: string } | undefined)?.code ?? "refused";
  }
  const message = (err as Error).message ?? String(err);
  if (/ECONNREFUSED/.test(message)) return "ECONNREFUSED";
  if (/timeout/i.test(message)) {
    const stage = /waiting for (\w+)/.exec(message)?.[1];
    return stage ? `timeout:${stage}` : "timeout";
  }
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
  private beyondBackoff = new Histogram();
  private refusals: Record<string, number> = {};
  private refusalsByTarget: Record<string, number> = {};
  private attempts = 0;
  private othersLost = 0;
  private stopped = false;
  private ports = new PortPool(10_000, 61_000);

  async connect(c: Cmd<"scaleConnect">): Promise<ScaleConnectResult> {
    this.stopped = false;
    this.ports = new PortPool(c.ports[0], c.ports[1]);
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
        index: k,
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
        localPort: 0,
        phase: "connecting",
        lastError: "",
        ownWaitMs: 0,
      };
      // The ramp retries a refusal too (as the SDK would), so every client ends up connected.
      for (let attempt = 1; attempt <= 10; attempt++) {
        const t0 = performance.now();
        try {
          this.adopt(sc, await this.open(sc, c.timeoutMs));
          this.clients.push(sc);
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
          await sleep(delayAfter(err, attempt).ms);
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

  route(c: Cmd<"route">): { survivors: number } {
    this.survivors = c.urls;
    return { survivors: this.survivors.length };
  }

  status(): ScaleStatus {
    let open = 0;
    let killed = 0;
    let back = 0;
    const notBack = { waiting: 0, connecting: 0, open: 0 };
    const stuck: string[] = [];
    for (const sc of this.clients) {
      if (sc.client && !sc.client.closed) open++;
      if (sc.killed) killed++;
      if (sc.back) back++;
      else if (sc.killed) {
        notBack[sc.phase]++;
        if (stuck.length < 5) {
          stuck.push(`${sc.userId} ${sc.localAddress} -> ${sc.url} attempt ${sc.attempt}: ${sc.lastError}`);
        }
      }
    }
    return {
      open,
      killed,
      back,
      notBack,
      stuck,
      backAfter: this.backAfter.toJSON(),
      beyondBackoff: this.beyondBackoff.toJSON(),
      refusals: { ...this.refusals },
      refusalsByTarget: { ...this.refusalsByTarget },
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

  private async open(sc: ScaleClient, timeoutMs: number = SDK_CONNECT_TIMEOUT_MS): Promise<WireClient> {
    // A port of an earlier socket can still be held by the kernel (TIME_WAIT): take another.
    for (let tries = 1; ; tries++) {
      const localPort = this.ports.take(sc.localAddress);
      try {
        const client = await WireClient.connect(sc.url, {
          auth: sc.auth,
          localAddress: sc.localAddress,
          localPort,
          timeoutMs,
        });
        sc.localPort = localPort;
        return client;
      } catch (err) {
        this.ports.release(sc.localAddress, localPort);
        sc.lastError = `${(err as Error).message ?? String(err)} (from port ${localPort})`;
        if (tries >= 5 || !/EADDRINUSE/.test((err as Error).message)) throw err;
      }
    }
  }

  private adopt(sc: ScaleClient, client: WireClient): void {
    sc.client = client;
    sc.phase = "open";
    client.onClose = () => {
      this.ports.release(sc.localAddress, sc.localPort);
      sc.localPort = 0;
      if (sc.closing || this.stopped) return;
      if (!sc.killed) this.othersLost++;
      sc.attempt = 0;
      const delay = transportBackoffMs(1);
      if (sc.killed && !sc.back) sc.ownWaitMs += delay;
      this.scheduleReconnect(sc, delay);
    };
  }

  private scheduleReconnect(sc: ScaleClient, delayMs: number): void {
    sc.phase = "waiting";
    setTimeout(() => void this.reconnect(sc), delayMs).unref();
  }

  private async reconnect(sc: ScaleClient): Promise<void> {
    if (this.stopped) return;
    sc.attempt++;
    this.attempts++;
    sc.phase = "connecting";
    // The load balancer sends new connections to the instances still alive, and a retry
    // after a failed attempt (a full or saturated instance, a reset) to the next one.
    if (this.survivors.length > 0 && (!this.survivors.includes(sc.url) || sc.attempt > 1)) {
      sc.url = this.survivors[(sc.index + sc.attempt) % this.survivors.length] as string;
    }
    try {
      const client = await this.open(sc);
      if (sc.killed && !sc.back) {
        sc.back = true;
        const after = Date.now() - this.killedAt;
        this.backAfter.record(after * 1000);
        this.beyondBackoff.record(Math.max(0, after - sc.ownWaitMs) * 1000);
      }
      this.adopt(sc, client);
    } catch (err) {
      const code = codeOf(err);
      this.refusals[code] = (this.refusals[code] ?? 0) + 1;
      const target = `${code}@${new URL(sc.url).port}`;
      this.refusalsByTarget[target] = (this.refusalsByTarget[target] ?? 0) + 1;
      const delay = delayAfter(err, sc.attempt + 1);
      if (sc.killed && !sc.back && delay.own) sc.ownWaitMs += delay.ms;
      this.scheduleReconnect(sc, delay.ms);
    }
  }
}

/**
 * What the SDK waits after a failed attempt: the server's hint plus jitter, or its own
 * backoff (`own`: a hinted wait is the server's, counted against it).
 */
function delayAfter(err: unknown, attempt: number): { ms: number; own: boolean } {
  const hint =
    err instanceof ConnectRefusedError ? (err.data as { retryAfterMs?: number })?.retryAfterMs : undefined;
  return typeof hint === "number"
    ? { ms: hintedBackoffMs(hint, attempt), own: false }
    : { ms: transportBackoffMs(attempt), own: true };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
