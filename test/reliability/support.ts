import type { AddressInfo } from "node:net";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import type { ManagerOptions, SocketOptions } from "socket.io-client";
import { afterAll, afterEach } from "vitest";
import { compareMessageIds } from "../../src/chat/message-id.js";
import type { ChatJoinResult, ErrorCode, Message } from "../../src/protocol/index.js";
import { ChildServer } from "../helpers/child-server.js";
import { closeAllClients, connectClient, request, sleep, type TestSocket } from "../helpers/client.js";
import { readyStatus } from "../helpers/ready.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * A TCP load balancer in front of several instances, as production has: new connections
 * go to the first backend whose `/ready` answered 200 at the last check (every 100 ms),
 * the next one when that connect fails. Established connections stay where they are
 * until that backend closes them, so clients of a dead or draining instance move over
 * only by reconnecting, exactly as behind nginx.
 */
export class LoadBalancer {
  private server: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly healthy = new Map<number, boolean>();
  private readonly sockets = new Set<Socket>();
  private readonly pairs: { port: number; client: Socket; upstream: Socket }[] = [];
  /** The backend port of every accepted connection, in order. */
  readonly routed: number[] = [];
  port = 0;

  constructor(private readonly backends: () => number[]) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    await this.check();
    this.timer = setInterval(() => void this.check(), 100);
    const server = createServer((client) => this.route(client));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await Promise.all(
        this.backends().map(async (port) => {
          this.healthy.set(port, (await readyStatus(`http://127.0.0.1:${port}`)) === 200);
        }),
      );
    } finally {
      this.checking = false;
    }
  }

  private route(client: Socket): void {
    this.track(client);
    client.pause();
    const candidates = this.backends().filter((port) => this.healthy.get(port));
    const attempt = (index: number) => {
      const port = candidates[index];
      if (port === undefined) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ host: "127.0.0.1", port });
      const onConnectError = () => attempt(index + 1);
      upstream.once("error", onConnectError);
      upstream.once("connect", () => {
        upstream.off("error", onConnectError);
        this.track(upstream);
        this.routed.push(port);
        this.pairs.push({ port, client, upstream });
        upstream.once("close", () => client.destroy());
        client.once("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  }

  /**
   * Stop forwarding what one backend sends to its clients (a network that drops replies):
   * the server keeps receiving and acting on events, its acks never arrive.
   */
  holdReplies(port: number): void {
    for (const pair of this.pairs) {
      if (pair.port !== port) continue;
      pair.upstream.unpipe(pair.client);
      pair.upstream.pause();
    }
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => this.sockets.delete(socket));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/**
 * What a client following the README's rules was handed: each seq once, contiguous and in
 * order within an epoch, from the first message it holds to the last, with no jump.
 */
export function handedInOrder(client: ChatClient): { jumps: number; outOfOrder: number } {
  let outOfOrder = 0;
  for (let i = 1; i < client.delivered.length; i++) {
    const [prev, next] = [client.delivered[i - 1] as Message, client.delivered[i] as Message];
    if (prev.epoch === next.epoch && next.seq !== prev.seq + 1) outOfOrder += 1;
  }
  return { jumps: client.jumps.length, outOfOrder };
}

export type SendResult = "ok" | ErrorCode | "timeout" | "disconnected";

export interface SendOutcome {
  clientMsgId: string;
  sentAt: number;
  answeredAt: number;
  result: SendResult;
  message?: Message;
}

/** Every ack waits at most this long: a longer wait is a hang, and is counted as one. */
export const ACK_TIMEOUT_MS = 5000;

/**
 * A chat client as the README tells a raw Socket.IO client to be written: it keeps the
 * room's `{epoch, seq}` of the last message it holds, applies a live message whose seq is
 * the next one, drops one it already holds, (re)joins on every connect with
 * `sinceSeq`/`epoch` (joining again while an answer says `live: false`), and retries an
 * unanswered send with the same `clientMsgId` until it is acknowledged. It records what
 * the rules could not absorb: a live message beyond the next seq (a jump).
 */
export class ChatClient {
  readonly received = new Map<string, Message>();
  /** What the app was handed, in order. */
  readonly delivered: Message[] = [];
  readonly outcomes: SendOutcome[] = [];
  /** The acknowledged message of every clientMsgId this client sent, once acknowledged. */
  readonly acked = new Map<string, Message>();
  readonly joins: { since: { seq: number; epoch: string } | undefined; result: ChatJoinResult }[] = [];
  readonly shutdownNotices: unknown[] = [];
  /** Live messages beyond the next seq of the epoch held: a hole the server should never leave. */
  readonly jumps: { after: number; got: number }[] = [];
  duplicates = 0;
  connects = 0;
  private held: Message[] | undefined;
  private joinedSocketId: string | undefined;
  private position: { seq: number; epoch: string } | undefined;

  private constructor(
    readonly userId: string,
    readonly socket: TestSocket,
    readonly roomId: string,
  ) {
    socket.on("chat:message", (message) => {
      if (message.roomId !== roomId) return;
      // An answer awaited as a promise is applied after events that followed it on the wire.
      if (this.held) this.held.push(message);
      else this.live(message);
    });
    socket.on("connect", () => {
      this.connects += 1;
      void this.join(socket.id);
    });
    socket.on("server:shutdown", (notice) => {
      this.shutdownNotices.push(notice);
      // Move on at once, as the notice asks: the load balancer sends the new connection elsewhere.
      socket.disconnect().connect();
    });
  }

  static async open(
    url: string,
    userId: string,
    roomId: string,
    options: Partial<ManagerOptions & SocketOptions> = {},
  ): Promise<ChatClient> {
    const token = await tokenFor(userId, { rooms: [roomId] });
    const client = new ChatClient(userId, connectClient(url, token, options), roomId);
    await client.untilJoined(10_000);
    return client;
  }

  get joined(): boolean {
    return this.socket.connected && this.joinedSocketId === this.socket.id;
  }

  /** Every message id this client holds, oldest first. */
  ids(): string[] {
    return [...this.received.keys()].sort(compareMessageIds);
  }

  private hand(message: Message): void {
    this.received.set(message.id, message);
    this.delivered.push(message);
    this.position = { seq: message.seq, epoch: message.epoch };
  }

  private live(message: Message): void {
    const at = this.position;
    if (at && message.epoch === at.epoch && message.seq <= at.seq) {
      this.duplicates += 1;
      return;
    }
    if (at && message.epoch === at.epoch && message.seq > at.seq + 1) {
      this.jumps.push({ after: at.seq, got: message.seq });
    }
    this.hand(message);
  }

  private async join(socketId: string | undefined): Promise<void> {
    while (this.socket.connected && this.socket.id === socketId) {
      const since = this.position;
      this.held = [];
      const res = await request(
        this.socket,
        "chat:join",
        since === undefined
          ? { roomId: this.roomId }
          : { roomId: this.roomId, sinceSeq: since.seq, epoch: since.epoch },
      ).catch(() => undefined);
      const held = this.held;
      this.held = undefined;
      if (!res?.ok) {
        await sleep(100);
        continue;
      }
      this.joins.push({ since, result: res.data });
      if (res.data.recovered === false) this.position = undefined;
      for (const message of res.data.messages) {
        if (!this.position || message.seq > this.position.seq || message.epoch !== this.position.epoch) {
          this.hand(message);
        }
      }
      if (this.position === undefined) this.position = { seq: res.data.seq, epoch: res.data.epoch };
      if (res.data.live) {
        for (const message of held ?? []) this.live(message);
        this.joinedSocketId = socketId;
        return;
      }
    }
  }

  async untilJoined(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.joined) {
      if (Date.now() > deadline) throw new Error(`${this.userId} did not (re)join within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** One attempt, answered or not within ACK_TIMEOUT_MS. */
  async sendOnce(clientMsgId: string): Promise<SendOutcome> {
    const sentAt = Date.now();
    let outcome: SendOutcome;
    try {
      const res = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("chat:send", {
        roomId: this.roomId,
        text: `text of ${clientMsgId}`,
        clientMsgId,
      });
      outcome = res.ok
        ? { clientMsgId, sentAt, answeredAt: Date.now(), result: "ok", message: res.data }
        : { clientMsgId, sentAt, answeredAt: Date.now(), result: res.error.code };
    } catch (err) {
      const result = /disconnected/.test((err as Error).message) ? "disconnected" : "timeout";
      outcome = { clientMsgId, sentAt, answeredAt: Date.now(), result };
    }
    this.outcomes.push(outcome);
    if (outcome.message) this.acked.set(clientMsgId, outcome.message);
    return outcome;
  }

  /** Retry with the same clientMsgId (after a reconnect and re-join) until the server acknowledges it. */
  async sendUntilOk(clientMsgId: string, timeoutMs = 20_000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.joined) {
        await sleep(20);
        continue;
      }
      const outcome = await this.sendOnce(clientMsgId);
      if (outcome.message) return outcome.message;
      await sleep(50);
    }
    throw new Error(`${this.userId}: ${clientMsgId} was never acknowledged`);
  }
}

/**
 * Steady chat traffic: every client sends a message with a unique clientMsgId every
 * `intervalMs`, without waiting for the previous ack. `reliable` retries each until ok.
 */
export function startTraffic(
  clients: ChatClient[],
  options: { intervalMs: number; reliable: boolean },
): { stop(): Promise<void> } {
  let running = true;
  const pending: Promise<unknown>[] = [];
  const loops = clients.map(async (client, index) => {
    await sleep((index * options.intervalMs) / clients.length);
    let n = 0;
    while (running) {
      n += 1;
      const clientMsgId = `${client.userId}-${n}`;
      if (options.reliable) pending.push(client.sendUntilOk(clientMsgId));
      else pending.push(client.sendOnce(clientMsgId));
      await sleep(options.intervalMs);
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      await Promise.all(pending);
    },
  };
}

/** The whole retained history of a room, oldest first, paged with `after`. */
export async function readHistory(socket: TestSocket, roomId: string): Promise<Message[]> {
  const all: Message[] = [];
  let after = "0-0";
  for (;;) {
    const res = await request(socket, "chat:history", { roomId, after, limit: 100 });
    if (!res.ok) throw new Error(`chat:history failed: ${res.error.code}`);
    all.push(...res.data.messages);
    const last = res.data.messages.at(-1);
    if (!res.data.hasMore || !last) return all;
    after = last.id;
  }
}

/** The acknowledged message of every clientMsgId across clients. */
export function ackedMessages(clients: ChatClient[]): Message[] {
  return clients.flatMap((c) => [...c.acked.values()]);
}

export const sortedIds = (messages: Iterable<Message>): string[] =>
  [...messages].map((m) => m.id).sort(compareMessageIds);

/** A client that comes back by itself, fast: how the fault tests' clients reconnect. */
export const RECONNECT = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500 };

/** The traffic of a fault test is the test's, not an abuse: per-user chat limits out of its way. */
export const TRAFFIC_LIMITS = {
  RATE_CHAT_SEND_PER_SEC: "1000",
  RATE_CHAT_SEND_BURST: "2000",
  RATE_CHAT_JOIN_PER_SEC: "1000",
} as const;

export interface FaultFixture {
  /** The built instances a test started: killed after each test. */
  servers: ChildServer[];
  /** The balancer a test started, if any: stopped after each test. */
  lb?: LoadBalancer;
  /** The file's redis-server, started by the test with the options it needs; destroyed at the end. */
  redis?: RedisServer;
  /** Start two built instances with this environment. */
  twoInstances(env: Record<string, string>): Promise<[ChildServer, ChildServer]>;
}

/** The lifecycle of a fault test file on built instances behind (optionally) a balancer. */
export function useFaultFixture(): FaultFixture {
  const fixture: FaultFixture = {
    servers: [],
    async twoInstances(env) {
      const pair = await Promise.all([new ChildServer(env).start(), new ChildServer(env).start()]);
      fixture.servers.push(...pair);
      return pair;
    },
  };
  afterEach(async () => {
    closeAllClients();
    await fixture.lb?.stop();
    await Promise.all(fixture.servers.splice(0).map((s) => s.kill()));
  });
  afterAll(async () => {
    await fixture.redis?.destroy();
  });
  return fixture;
}
