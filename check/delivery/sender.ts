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
  /** A change (edit, delete, reaction) to `target` rather than a message. */
  change?: { kind: "edit" | "delete" | "reaction"; target: string; emoji?: string; on?: boolean };
  /** A change the server answered with `entry: null`: nothing was to change, nothing may be stored. */
  noop?: boolean;
}

/** The emoji the senders react with: few, so reactions are taken back and given again often. */
const EMOJI = ["👍", "🎉", ":eyes:"];

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

  /** Of every new request, this share is a change to one of the sender's acked messages. */
  changeShare = 0;

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
        const message: SentMessage = this.nextChange(n) ?? {
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

  /**
   * A change to one of this sender's acked, undeleted messages (with the share's chance):
   * a reaction given or taken back (half), an edit, or a delete.
   */
  private nextChange(n: number): SentMessage | undefined {
    if (this.changeShare <= 0 || this.random.next() >= this.changeShare) return undefined;
    const targets = [...this.sent.values()].filter(
      (m) => m.acked && !m.change && !this.deleted.has(m.acked.id),
    );
    if (targets.length === 0) return undefined;
    const target = this.random.pick(targets);
    const roll = this.random.next();
    const kind = roll < 0.5 ? "reaction" : roll < 0.85 ? "edit" : "delete";
    const id = (target.acked as WireMessage).id;
    if (kind === "delete") this.deleted.add(id);
    return {
      clientMsgId: `${this.name}-${n}-${kind}`,
      roomId: target.roomId,
      senderId: this.userId,
      attempts: 0,
      change:
        kind === "reaction"
          ? { kind, target: id, emoji: this.random.pick(EMOJI), on: this.random.next() < 0.6 }
          : { kind, target: id },
    };
  }

  private readonly deleted = new Set<string>();

  /** The request of a message or a change, as the README's events take it. */
  private request(message: SentMessage): { event: string; payload: Record<string, unknown> } {
    const base = { roomId: message.roomId, clientMsgId: message.clientMsgId };
    const change = message.change;
    if (!change)
      return { event: "chat:send", payload: { ...base, text: `${message.clientMsgId} from ${this.userId}` } };
    if (change.kind === "edit")
      return {
        event: "chat:edit",
        payload: { ...base, messageId: change.target, text: `${message.clientMsgId}` },
      };
    if (change.kind === "delete")
      return { event: "chat:delete", payload: { ...base, messageId: change.target } };
    return {
      event: "chat:react",
      payload: { ...base, messageId: change.target, emoji: change.emoji, on: change.on },
    };
  }

  private async deliver(message: SentMessage, deadline: number): Promise<void> {
    while (Date.now() < deadline && !this.closed) {
      if (!this.joined) {
        await sleep(20);
        continue;
      }
      message.attempts += 1;
      const { event, payload } = this.request(message);
      const res = await ask<WireMessage | { entry: WireMessage | null }>(this.socket, event, payload);
      if (res.ok) {
        if (!message.change) message.acked = res.data as WireMessage;
        else {
          const { entry } = res.data as { entry: WireMessage | null };
          if (entry) message.acked = entry;
          else message.noop = true;
        }
        return;
      }
      message.lastError = res.error.code;
      // A change the server refuses for good (its target gone): retrying cannot help.
      if (message.change && (res.error.code === "NOT_FOUND" || res.error.code === "FORBIDDEN")) return;
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
