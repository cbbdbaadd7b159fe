import { RealtimeError } from "./errors.js";
import type { AckData, AckResponse, ClientEventName, EventPayload } from "./protocol.js";

/**
 * What requests need from the connection. socket.io-client's `Socket` is one (its typed
 * `emit` cannot be called with a generic event name, hence the loose signature).
 */
export interface RequestTransport {
  readonly connected: boolean;
  emit(event: string, payload: unknown, ack: (response: unknown) => void): void;
}

/** Emit `event` with an ack; resolves with the ack's `data`. */
export type RequestFn = <E extends ClientEventName>(
  event: E,
  payload: EventPayload<E>,
  timeoutMs?: number,
) => Promise<AckData<E>>;

interface Outstanding {
  send(): void;
  reject(err: RealtimeError): void;
}

function isAckResponse(value: unknown): value is AckResponse<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { ok?: unknown }).ok === "boolean";
}

/**
 * Requests with ack promises: each resolves with the ack's `data` or rejects with the
 * error's code, TIMEOUT, or DISCONNECTED when the connection drops first. Issued while
 * disconnected, a request waits for the connection (within the same timeout).
 */
export class Requests {
  private readonly inflight = new Set<Outstanding>();
  private readonly waitingForConnection = new Set<Outstanding>();
  private closed = false;

  constructor(private readonly deps: { transport: RequestTransport; timeoutMs: number }) {}

  readonly request: RequestFn = (event, payload, timeoutMs = this.deps.timeoutMs) =>
    new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new RealtimeError("DISCONNECTED", "the client is closed"));
        return;
      }
      let settled = false;
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inflight.delete(outstanding);
        this.waitingForConnection.delete(outstanding);
        settle();
      };
      const outstanding: Outstanding = {
        send: () => {
          this.inflight.add(outstanding);
          this.deps.transport.emit(event, payload, (response) => {
            finish(() => {
              if (!isAckResponse(response)) {
                reject(new RealtimeError("INTERNAL", `malformed answer to ${event}`));
              } else if (response.ok) {
                resolve(response.data as never);
              } else {
                reject(RealtimeError.fromBody(response.error));
              }
            });
          });
        },
        reject: (err) => finish(() => reject(err)),
      };
      const timer = setTimeout(
        () =>
          outstanding.reject(new RealtimeError("TIMEOUT", `no answer to ${event} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      if (this.deps.transport.connected) outstanding.send();
      else this.waitingForConnection.add(outstanding);
    });

  /** The connection is up: send what waited for it. */
  connected(): void {
    for (const outstanding of [...this.waitingForConnection]) {
      this.waitingForConnection.delete(outstanding);
      outstanding.send();
    }
  }

  /** The connection dropped: no answer is coming for what was sent on it. */
  disconnected(error: RealtimeError): void {
    for (const outstanding of [...this.inflight]) outstanding.reject(error);
  }

  /** For good: everything pending and everything asked later rejects. */
  close(error: RealtimeError): void {
    this.closed = true;
    for (const outstanding of [...this.inflight, ...this.waitingForConnection]) outstanding.reject(error);
  }
}
