import { tokenFor } from "../../test/helpers/tokens.js";
import type { ClientLink } from "./client-link.js";
import type { Random } from "./random.js";
import { ask, type CheckSocket, openSocket, sleep, type WireMessage } from "./wire.js";

export interface SentMessage {
  clientMsgId: string;
  roomId: string;
  senderId: string;
  attempts: number;
  /** The stored message the `ok` ack carried (for a retry: the original, if the server keeps its word). */
  acked?: WireMessage;
  lastError?: string;
}

/**
 * A chat client that sends: joins its rooms on every connect, sends each message with a
 * `clientMsgId` and, as the README asks, retries it with the same id after an error, a
 * lost answer or a reconnect until it is acknowledged (or its deadline passes).
 */
export class Sender {
  readonly sent = new Map<string, SentMessage>();
  private socket!: CheckSocket;
  private joinedOn: string | undefined;
  private running = false;
  private closed = false;
  private loop: Promise<void> | undefined;
  private readonly outstanding = new Set<Promise<void>>();
  reconnects = 0;
  private connects = 0;

  private constructor(
    readonly name: string,
    readonly userId: string,
    private readonly roomIds: string[],
    readonly link: ClientLink,
    private readonly random: Random,
  ) {}

  static async open(name: string, roomIds: string[], link: ClientLink, random: Random): Promise<Sender> {
    const sender = new Sender(name, name, roomIds, link, random);
    const token = await tokenFor(name, { rooms: roomIds }, { expiresIn: "12h" });
    sender.socket = openSocket(link.url, token);
    sender.socket.on("connect", () => {
      sender.connects += 1;
      sender.reconnects = sender.connects - 1;
      void sender.joinRooms(sender.socket.id);
    });
    return sender;
  }

  private async joinRooms(socketId: string | undefined): Promise<void> {
    for (const roomId of this.roomIds) {
      for (;;) {
        if (!this.socket.connected || this.socket.id !== socketId) return;
        const res = await ask(this.socket, "chat:join", { roomId });
        if (res.ok) break;
        await sleep(200);
      }
    }
    this.joinedOn = socketId;
  }

  get joined(): boolean {
    return this.socket.connected && this.joinedOn === this.socket.id;
  }

  /** Sends one new message every `intervalMs` (± half, seeded) without waiting for acks. */
  start(intervalMs: number, deadlineMs: number): void {
    this.running = true;
    this.loop = (async () => {
      let n = 0;
      while (this.running) {
        n += 1;
        const message: SentMessage = {
          clientMsgId: `${this.name}-${n}`,
          roomId: this.random.pick(this.roomIds),
          senderId: this.userId,
          attempts: 0,
        };
        this.sent.set(message.clientMsgId, message);
        const delivery = this.deliver(message, Date.now() + deadlineMs);
        this.outstanding.add(delivery);
        void delivery.finally(() => this.outstanding.delete(delivery));
        await sleep(intervalMs / 2 + this.random.next() * intervalMs);
      }
    })();
  }

  private async deliver(message: SentMessage, deadline: number): Promise<void> {
    while (Date.now() < deadline && !this.closed) {
      if (!this.joined) {
        await sleep(20);
        continue;
      }
      message.attempts += 1;
      const res = await ask<WireMessage>(this.socket, "chat:send", {
        roomId: message.roomId,
        text: `${message.clientMsgId} from ${this.userId}`,
        clientMsgId: message.clientMsgId,
      });
      if (res.ok) {
        message.acked = res.data;
        return;
      }
      message.lastError = res.error.code;
      const retryAfter = "retryAfterMs" in res.error ? res.error.retryAfterMs : undefined;
      await sleep(retryAfter ?? 100);
    }
  }

  /** Stops sending new messages and waits for the ones under way (each bounded by its deadline). */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await Promise.all([...this.outstanding]);
  }

  /** Stops at once, sends under way included (the end of a run, or a run that failed). */
  close(): void {
    this.running = false;
    this.closed = true;
    this.socket.disconnect();
  }
}
