import { RealtimeError } from "./errors.js";
import { createClientMsgId } from "./ids.js";
import type { Message } from "./protocol.js";

export interface SendExtra {
  replyTo?: string;
  mentions?: string[];
}

export interface OutboxEntry {
  readonly clientMsgId: string;
  readonly roomId: string;
  readonly text: string;
  /** A reply's target and the mentioned user ids, sent with the text. */
  readonly extra: SendExtra;
  /** Epoch ms after which the send is given up with TIMEOUT. */
  readonly deadline: number;
  /** "sending": emitted on the current connection, ack pending. */
  state: "queued" | "sending";
  /** A queued entry is not sent again before this (after RATE_LIMITED or UNAVAILABLE). */
  notBefore: number;
  attempts: number;
}

interface Pending extends OutboxEntry {
  waiters: { resolve(message: Message): void; reject(err: RealtimeError): void }[];
}

export class Outbox {
  private readonly entries = new Map<string, Pending>();

  constructor(private readonly deps: { now: () => number; timeoutMs: number }) {}

  get size(): number {
    return this.entries.size;
  }

  /** Queue a send; the same clientMsgId twice is the same send (both promises settle together). */
  add(
    roomId: string,
    text: string,
    clientMsgId: string = createClientMsgId(),
    extra: SendExtra = {},
  ): Promise<Message> {
    return new Promise((resolve, reject) => {
      const existing = this.entries.get(clientMsgId);
      if (existing) {
        existing.waiters.push({ resolve, reject });
        return;
      }
      this.entries.set(clientMsgId, {
        clientMsgId,
        roomId,
        text,
        extra,
        deadline: this.deps.now() + this.deps.timeoutMs,
        state: "queued",
        notBefore: 0,
        attempts: 0,
        waiters: [{ resolve, reject }],
      });
    });
  }

  get(clientMsgId: string): OutboxEntry | undefined {
    return this.entries.get(clientMsgId);
  }

  /**
   * The room's oldest unacknowledged send, whatever its state: sends go out one at a time
   * per room, in order, so a later one never overtakes a delayed retry.
   */
  next(roomId: string): OutboxEntry | undefined {
    for (const entry of this.entries.values()) if (entry.roomId === roomId) return entry;
    return undefined;
  }

  rooms(): string[] {
    return [...new Set([...this.entries.values()].map((e) => e.roomId))];
  }

  markSending(clientMsgId: string): void {
    const entry = this.entries.get(clientMsgId);
    if (!entry) return;
    entry.state = "sending";
    entry.attempts += 1;
  }

  /** Back to the queue, not to be sent before `delayMs` from now. */
  retryLater(clientMsgId: string, delayMs = 0): void {
    const entry = this.entries.get(clientMsgId);
    if (!entry) return;
    entry.state = "queued";
    entry.notBefore = this.deps.now() + delayMs;
  }

  /** The connection dropped: whatever was in flight may or may not be stored; send again. */
  requeueSending(): void {
    for (const entry of this.entries.values()) if (entry.state === "sending") entry.state = "queued";
  }

  resolve(clientMsgId: string, message: Message): void {
    const entry = this.entries.get(clientMsgId);
    if (!entry) return;
    this.entries.delete(clientMsgId);
    for (const waiter of entry.waiters) waiter.resolve(message);
  }

  reject(clientMsgId: string, err: RealtimeError): void {
    const entry = this.entries.get(clientMsgId);
    if (!entry) return;
    this.entries.delete(clientMsgId);
    for (const waiter of entry.waiters) waiter.reject(err);
  }

  rejectRoom(roomId: string, err: RealtimeError): void {
    for (const entry of [...this.entries.values()])
      if (entry.roomId === roomId) this.reject(entry.clientMsgId, err);
  }

  rejectAll(err: RealtimeError): void {
    for (const id of [...this.entries.keys()]) this.reject(id, err);
  }

  /** Give up on entries past their deadline (TIMEOUT); returns how many. */
  expire(): number {
    const now = this.deps.now();
    let expired = 0;
    for (const entry of [...this.entries.values()]) {
      if (entry.deadline <= now) {
        expired += 1;
        this.reject(
          entry.clientMsgId,
          new RealtimeError("TIMEOUT", `message not acknowledged within ${this.deps.timeoutMs} ms`),
        );
      }
    }
    return expired;
  }

  /** The next moment something changes by itself (a deadline, or a delayed retry), epoch ms. */
  nextWakeUp(): number | undefined {
    let next: number | undefined;
    for (const entry of this.entries.values()) {
      const candidates = [entry.deadline];
      if (entry.state === "queued" && entry.notBefore > this.deps.now()) candidates.push(entry.notBefore);
      for (const at of candidates) if (next === undefined || at < next) next = at;
    }
    return next;
  }
}
