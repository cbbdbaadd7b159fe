import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";
import { signToken } from "../src/auth/sign.js";
import { Histogram } from "./histogram.js";
import type { ConnectResult, JoinResult, NotifyResult, StepResult, WorkerCommand } from "./load-protocol.js";
import { ScaleClients } from "./scale-clients.js";
import { WireClient } from "./wire-client.js";

type Cmd<K extends WorkerCommand["cmd"]> = Extract<WorkerCommand, { cmd: K }>;

/** Bench room ids; the bench users' token grants `bench:*`. */
export const benchRoom = (index: number): string => `bench:r${index}`;
export const BENCH_ROOM_CLAIM = "bench:*";

const nowUs = (): number => performance.now() * 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Broadcast frames are recognised by bytes, not decoded: decoding every delivery would
// make the load process, not the server, the bottleneck. The timestamp travels in the
// message text (chat) or title (notifications) as `b<step>:<µs>:`, so both servers
// carry the same bytes.
const CH_C = 0x63;
const CH_N = 0x6e;
const CH_COLON = 0x3a;
const CH_T = 0x74;
const TEXT_MARK = Buffer.from('"text":"b');
const TITLE_MARK = Buffer.from('"title":"b');

/** Reads `<step>:<µs>:` at `at`; returns [step, µs] or undefined. */
function readStamp(frame: Buffer, at: number): [number, number] | undefined {
  let step = 0;
  let i = at;
  for (; i < frame.length && frame[i] !== CH_COLON; i++) step = step * 10 + ((frame[i] as number) - 0x30);
  let us = 0;
  for (i++; i < frame.length && frame[i] !== CH_COLON; i++) us = us * 10 + ((frame[i] as number) - 0x30);
  return i < frame.length ? [step, us] : undefined;
}

interface Member {
  client: WireClient;
  userId: string;
  room: number;
  /** ack id → send time (µs) */
  pending: Map<number, number>;
  /** Prebuilt `["chat:send",{"roomId":"…","text":"b` */
  sendPrefix: string;
}

/** The state of the step being measured; deliveries of other steps only count as stray. */
class StepCounters {
  sent = 0;
  ackOk = 0;
  ackErrors: Record<string, number> = {};
  inFlight = 0;
  delivered = 0;
  stray = 0;
  disconnects = 0;
  firstSendUs = 0;
  lastAckUs = 0;
  lastDeliveryUs = 0;
  readonly ack = new Histogram();
  readonly e2e = new Histogram();
  constructor(readonly step: number) {}
}

/**
 * Drives many wire-format Socket.IO clients from one process: connect ramps, room
 * joins, open-loop chat:send steps at a fixed rate, and HTTP notification bursts.
 */
export class LoadGenerator {
  private clients: Member[] = [];
  private membersPerRoom = 0;
  private counters = new StepCounters(-1);
  private notifyCounters = new StepCounters(-1);
  private readonly scale = new ScaleClients();

  async run(command: WorkerCommand): Promise<unknown> {
    switch (command.cmd) {
      case "scaleConnect":
        return this.scale.connect(command);
      case "failover":
        return this.scale.failover(command);
      case "route":
        return this.scale.route(command);
      case "scaleStatus":
        return this.scale.status();
      case "connect":
        return this.connect(command);
      case "join":
        return this.join(command);
      case "step":
        return this.step(command);
      case "notify":
        return this.notify(command);
      case "close":
        this.scale.close();
        return this.close();
    }
  }

  async connect(c: Cmd<"connect">): Promise<ConnectResult> {
    const tokens = await Promise.all(
      Array.from({ length: c.count }, (_, i) =>
        signToken(
          { sub: `${c.userPrefix}${i}`, rooms: [BENCH_ROOM_CLAIM] },
          { key: c.secret, expiresIn: "6h" },
        ),
      ),
    );
    const latency = new Histogram();
    const errors: string[] = [];
    let failed = 0;
    let next = 0;
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const one = async (i: number) => {
      const userId = `${c.userPrefix}${i}`;
      const t0 = nowUs();
      try {
        const client = await WireClient.connect(c.urls[i % c.urls.length] as string, {
          auth: c.sendUserId ? { token: tokens[i], userId } : { token: tokens[i] },
          timeoutMs: c.timeoutMs,
        });
        latency.record(nowUs() - t0);
        this.adopt(client, userId);
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push((err as Error).message);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(c.concurrency, c.count) }, async () => {
        while (next < c.count) await one(next++);
      }),
    );
    const elapsedMs = performance.now() - started;
    const connected = c.count - failed;
    return {
      requested: c.count,
      connected,
      failed,
      errors,
      elapsedMs: Math.round(elapsedMs),
      connectsPerSec: Math.round((connected / elapsedMs) * 1000),
      latency: latency.toJSON(),
      loadCpuPercent: cpuPercentSince(cpu0, elapsedMs),
    };
  }

  private adopt(client: WireClient, userId: string): void {
    const member: Member = { client, userId, room: -1, pending: new Map(), sendPrefix: "" };
    client.onRawEvent = (frame) => this.onEvent(frame);
    client.onRawAck = (id, frame) => this.onAck(member, id, frame);
    client.onClose = () => {
      this.counters.disconnects++;
    };
    this.clients.push(member);
  }

  async join(c: Cmd<"join">): Promise<JoinResult> {
    const total = c.rooms * c.membersPerRoom;
    if (total > this.clients.length) {
      throw new Error(`join needs ${total} sockets, ${this.clients.length} are connected`);
    }
    this.membersPerRoom = c.membersPerRoom;
    const errors: string[] = [];
    let failed = 0;
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(c.concurrency, total) }, async () => {
        while (next < total) {
          const i = next++;
          const member = this.clients[i] as Member;
          const room = Math.floor(i / c.membersPerRoom);
          const roomId = benchRoom(room);
          try {
            const res = (await member.client.emitWithAck("chat:join", { roomId }, 10_000)) as {
              ok?: boolean;
              error?: { code: string };
            };
            if (!res?.ok) throw new Error(`chat:join refused: ${res?.error?.code ?? JSON.stringify(res)}`);
            member.room = room;
            member.sendPrefix = `["chat:send",{"roomId":"${roomId}","text":"b`;
          } catch (err) {
            failed++;
            if (errors.length < 5) errors.push((err as Error).message);
          }
        }
      }),
    );
    return { joined: total - failed, failed, errors, elapsedMs: Math.round(performance.now() - started) };
  }

  private onEvent(frame: Buffer): void {
    const first = frame[4];
    if (first === CH_C) {
      const at = frame.indexOf(TEXT_MARK, 20);
      if (at < 0) return;
      const stamp = readStamp(frame, at + TEXT_MARK.length);
      if (!stamp) return;
      const s = this.counters;
      if (stamp[0] !== s.step) {
        s.stray++;
        return;
      }
      const now = nowUs();
      s.delivered++;
      s.lastDeliveryUs = now;
      s.e2e.record(now - stamp[1]);
    } else if (first === CH_N) {
      const at = frame.indexOf(TITLE_MARK, 20);
      if (at < 0) return;
      const stamp = readStamp(frame, at + TITLE_MARK.length);
      if (!stamp) return;
      const n = this.notifyCounters;
      const now = nowUs();
      n.delivered++;
      n.lastDeliveryUs = now;
      n.e2e.record(now - stamp[1]);
    }
  }

  private onAck(member: Member, id: number, frame: Buffer): void {
    const sentAt = member.pending.get(id);
    if (sentAt === undefined) return;
    member.pending.delete(id);
    const s = this.counters;
    s.inFlight--;
    const now = nowUs();
    s.lastAckUs = now;
    s.ack.record(now - sentAt);
    // `43<id>[{"ok":true,…` : byte 8 after the bracket is t(rue) or f(alse).
    const bracket = frame.indexOf(0x5b, 2);
    if (frame[bracket + 7] === CH_T) {
      s.ackOk++;
      return;
    }
    let code = "MALFORMED_ACK";
    try {
      const [res] = JSON.parse(frame.toString("utf8", bracket)) as [
        { ok?: boolean; error?: { code?: string } },
      ];
      if (res?.ok === true) {
        s.ackOk++;
        return;
      }
      code = res?.error?.code ?? code;
    } catch {
      // counted as malformed
    }
    s.ackErrors[code] = (s.ackErrors[code] ?? 0) + 1;
  }

  async step(c: Cmd<"step">): Promise<StepResult> {
    const senders = this.clients.filter((m) => m.room >= 0 && !m.client.closed);
    if (senders.length === 0) throw new Error("no joined sockets to send from");
    const s = new StepCounters(c.step);
    this.counters = s;
    const padding = "x".repeat(Math.max(0, c.textBytes - 24));
    let offered = 0;
    let throttled = 0;
    let rr = 0;
    const cpu0 = process.cpuUsage();
    const startMs = performance.now();
    s.firstSendUs = startMs * 1000;

    // Open loop: every tick sends what is due at the offered rate since the start, so a
    // late timer catches up instead of lowering the load.
    await new Promise<void>((resolve) => {
      const tick = () => {
        const elapsed = performance.now() - startMs;
        const dueTotal = Math.floor((Math.min(elapsed, c.durationMs) * c.ratePerSec) / 1000);
        while (offered < dueTotal) {
          offered++;
          if (s.inFlight >= c.maxInFlight) {
            throttled++;
            continue;
          }
          const member = senders[rr++ % senders.length] as Member;
          if (member.client.closed) {
            throttled++;
            continue;
          }
          const t = Math.round(nowUs());
          const id = member.client.sendRaw(`${member.sendPrefix}${c.step}:${t}:${padding}"}]`);
          member.pending.set(id, t);
          s.inFlight++;
          s.sent++;
        }
        if (elapsed >= c.durationMs) {
          clearInterval(timer);
          resolve();
        }
      };
      const timer = setInterval(tick, 2);
    });

    const expected = () => s.sent * this.membersPerRoom;
    const drainDeadline = performance.now() + c.drainTimeoutMs;
    while ((s.inFlight > 0 || s.delivered < expected()) && performance.now() < drainDeadline) await sleep(5);
    const endMs = performance.now();

    let ackMissing = 0;
    for (const m of senders) {
      ackMissing += m.pending.size;
      m.pending.clear();
    }
    s.inFlight = 0;
    const secs = (fromUs: number, toUs: number) => Math.max(1e-6, (toUs - fromUs) / 1e6);
    const result: StepResult = {
      step: c.step,
      ratePerSec: c.ratePerSec,
      durationMs: c.durationMs,
      membersPerRoom: this.membersPerRoom,
      offered,
      sent: s.sent,
      throttled,
      ackOk: s.ackOk,
      ackErrors: s.ackErrors,
      ackMissing,
      delivered: s.delivered,
      expected: expected(),
      lost: expected() - s.delivered,
      stray: s.stray,
      disconnects: s.disconnects,
      sentPerSec: Math.round(s.sent / (c.durationMs / 1000)),
      ackedPerSec: Math.round(
        (s.ackOk + sumValues(s.ackErrors)) / secs(s.firstSendUs, s.lastAckUs || endMs * 1000),
      ),
      deliveredPerSec: Math.round(s.delivered / secs(s.firstSendUs, s.lastDeliveryUs || endMs * 1000)),
      ack: s.ack.toJSON(),
      e2e: s.e2e.toJSON(),
      loadCpuPercent: cpuPercentSince(cpu0, endMs - startMs),
    };
    // Later deliveries of this step must not be mistaken for the next one's.
    this.counters = new StepCounters(-1);
    return result;
  }

  async notify(c: Cmd<"notify">): Promise<NotifyResult> {
    const users = this.clients.filter((m) => !m.client.closed);
    if (users.length === 0) throw new Error("no connected sockets to notify");
    const n = new StepCounters(0);
    this.notifyCounters = n;
    const http = new Histogram();
    const httpErrors: Record<string, number> = {};
    const agent = new Agent({ keepAlive: true, maxSockets: c.concurrency });
    const target = new URL(c.path, c.url);
    let httpOk = 0;
    let next = 0;
    let cursor = 0;
    let lastResponseUs = 0;
    const cpu0 = process.cpuUsage();
    const startMs = performance.now();
    n.firstSendUs = startMs * 1000;

    const post = (body: string): Promise<number> =>
      new Promise((resolve) => {
        const req = request(
          target,
          {
            method: "POST",
            agent,
            headers: {
              "content-type": "application/json",
              "content-length": Buffer.byteLength(body),
              authorization: `Bearer ${c.apiKey}`,
            },
            timeout: 10_000,
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", () => resolve(0));
        req.end(body);
      });

    await Promise.all(
      Array.from({ length: Math.min(c.concurrency, c.requests) }, async () => {
        while (next < c.requests) {
          const k = next++;
          const userIds: string[] = [];
          for (let j = 0; j < c.batchSize; j++)
            userIds.push((users[cursor++ % users.length] as Member).userId);
          const t = Math.round(nowUs());
          const status = await post(JSON.stringify({ userIds, type: "bench", title: `b${k}:${t}:` }));
          const now = nowUs();
          http.record(now - t);
          lastResponseUs = now;
          if (status >= 200 && status < 300) httpOk++;
          else httpErrors[String(status)] = (httpErrors[String(status)] ?? 0) + 1;
        }
      }),
    );
    const expected = c.requests * c.batchSize;
    const drainDeadline = performance.now() + c.drainTimeoutMs;
    while (n.delivered < expected && performance.now() < drainDeadline) await sleep(5);
    const endMs = performance.now();
    agent.destroy();
    this.notifyCounters = new StepCounters(-1);
    const secs = (toUs: number) => Math.max(1e-6, (toUs - n.firstSendUs) / 1e6);
    return {
      requests: c.requests,
      batchSize: c.batchSize,
      httpOk,
      httpErrors,
      delivered: n.delivered,
      expected,
      lost: expected - n.delivered,
      elapsedMs: Math.round(endMs - startMs),
      requestsPerSec: Math.round(c.requests / secs(lastResponseUs)),
      deliveredPerSec: Math.round(n.delivered / secs(n.lastDeliveryUs || endMs * 1000)),
      http: http.toJSON(),
      e2e: n.e2e.toJSON(),
      loadCpuPercent: cpuPercentSince(cpu0, endMs - startMs),
    };
  }

  async close(): Promise<{ closed: number }> {
    const count = this.clients.length;
    for (const m of this.clients) {
      m.client.onClose = undefined;
      m.client.close();
    }
    this.clients = [];
    await sleep(50);
    return { closed: count };
  }
}

function sumValues(record: Record<string, number>): number {
  let total = 0;
  for (const v of Object.values(record)) total += v;
  return total;
}

function cpuPercentSince(start: NodeJS.CpuUsage, wallMs: number): number {
  const d = process.cpuUsage(start);
  return Math.round(((d.user + d.system) / 1000 / Math.max(1, wallMs)) * 1000) / 10;
}
