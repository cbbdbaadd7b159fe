import { RealtimeError, toRealtimeError } from "./errors.js";
import { Outbox, type SendExtra } from "./outbox.js";
import type { Message } from "./protocol.js";
import type { RequestFn } from "./requests.js";
import { backoffDelayMs } from "./token.js";

export interface SendPumpDeps {
  request: RequestFn;
  isConnected: () => boolean;
  now: () => number;
  /** How long a send keeps being retried before it rejects with TIMEOUT. */
  timeoutMs: number;
  /** false while the room is being (re)joined on this connection: the join pumps when it is done. */
  isReady: (roomId: string) => boolean;
  /** A send's stored message, handed on as if it had arrived live (the ack may come first). */
  onStored: (message: Message) => void;
}

/**
 * Sends that survive disconnects: the outbox of unacknowledged sends, emptied one message
 * at a time per room (so the order is kept) whenever the room is ready on a live
 * connection, with retries under the same `clientMsgId` until the deadline.
 */
export class SendPump {
  private readonly outbox: Outbox;
  private readonly pumping = new Set<string>();
  private wakeTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(private readonly deps: SendPumpDeps) {
    this.outbox = new Outbox({ now: deps.now, timeoutMs: deps.timeoutMs });
  }

  send(roomId: string, text: string, clientMsgId?: string, extra: SendExtra = {}): Promise<Message> {
    if (this.closed) return Promise.reject(new RealtimeError("DISCONNECTED", "the client is closed"));
    const promise = this.outbox.add(roomId, text, clientMsgId, extra);
    this.scheduleWake();
    void this.pump(roomId);
    return promise;
  }

  /** Rooms with sends waiting. */
  rooms(): string[] {
    return this.outbox.rooms();
  }

  /** Send the room's queued messages one by one, in order, on the current connection. */
  async pump(roomId: string): Promise<void> {
    if (this.pumping.has(roomId)) return;
    this.pumping.add(roomId);
    try {
      for (;;) {
        if (this.closed || !this.deps.isConnected() || !this.deps.isReady(roomId)) return;
        const entry = this.outbox.next(roomId);
        if (!entry || entry.state === "sending" || entry.notBefore > this.deps.now()) return;
        this.outbox.markSending(entry.clientMsgId);
        try {
          const message = await this.deps.request("chat:send", {
            roomId,
            text: entry.text,
            clientMsgId: entry.clientMsgId,
            ...entry.extra,
          });
          this.outbox.resolve(entry.clientMsgId, message);
          this.deps.onStored(message);
        } catch (err) {
          this.failed(entry.clientMsgId, entry.attempts, toRealtimeError(err));
        }
        this.scheduleWake();
      }
    } finally {
      this.pumping.delete(roomId);
    }
  }

  private failed(clientMsgId: string, attempts: number, error: RealtimeError): void {
    if (error.code === "DISCONNECTED" || error.code === "TIMEOUT") {
      // Maybe stored, maybe not: the same clientMsgId makes sending again safe.
      this.outbox.retryLater(clientMsgId);
    } else if (error.code === "RATE_LIMITED" || error.code === "UNAVAILABLE") {
      this.outbox.retryLater(
        clientMsgId,
        error.retryAfterMs ?? backoffDelayMs(attempts, { minMs: 500, maxMs: 5000 }),
      );
    } else {
      this.outbox.reject(clientMsgId, error);
    }
  }

  /** The connection dropped: what was in flight may or may not be stored; send it again. */
  disconnected(): void {
    this.outbox.requeueSending();
  }

  rejectRoom(roomId: string, error: RealtimeError): void {
    this.outbox.rejectRoom(roomId, error);
  }

  close(error: RealtimeError): void {
    this.closed = true;
    clearTimeout(this.wakeTimer);
    this.outbox.rejectAll(error);
  }

  /** Deadlines and delayed retries happen by themselves: wake up for the next one. */
  private scheduleWake(): void {
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    const at = this.outbox.nextWakeUp();
    if (at === undefined || this.closed) return;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeTimer = undefined;
        this.outbox.expire();
        for (const roomId of this.outbox.rooms()) void this.pump(roomId);
        this.scheduleWake();
      },
      Math.max(0, at - this.deps.now()) + 1,
    );
  }
}
