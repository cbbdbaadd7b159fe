import type { AckResponse } from "../../src/protocol/index.js";

export interface SentRequest {
  event: string;
  payload: unknown;
  ack: (response: unknown) => void;
  answered: boolean;
}

/**
 * The SDK's view of a connection, driven by the test: `emit` records the request and the
 * test answers it (or never does), `connected` is set by hand.
 */
export class FakeTransport {
  connected = false;
  readonly sent: SentRequest[] = [];

  emit(event: string, payload: unknown, ack: (response: unknown) => void): void {
    this.sent.push({ event, payload, ack, answered: false });
  }

  /** Requests of `event` (all events when omitted) not answered yet, oldest first. */
  pending(event?: string): SentRequest[] {
    return this.sent.filter((s) => !s.answered && (event === undefined || s.event === event));
  }

  /** The oldest unanswered request of `event`; throws when there is none. */
  next(event: string): SentRequest {
    const found = this.pending(event)[0];
    if (!found) throw new Error(`no pending ${event}`);
    return found;
  }

  /** The connection drops: answers to what was sent on it never come. */
  drop(): void {
    this.connected = false;
    for (const request of this.sent) request.answered = true;
  }

  reply<T>(request: SentRequest, response: AckResponse<T>): void {
    request.answered = true;
    request.ack(response);
  }

  ok<T>(request: SentRequest, data: T): void {
    this.reply(request, { ok: true, data });
  }
}
