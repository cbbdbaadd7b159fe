import type { RealtimeError } from "./errors.js";
import { backoffDelayMs } from "./token.js";
import type { ConnectionStatus, StatusEvent } from "./types.js";

export interface ConnectionStateDeps {
  /** The part of socket.io-client's Socket this needs. */
  socket: { readonly connected: boolean; connect(): void };
  reconnectDelayMs: number;
  reconnectDelayMaxMs: number;
  onStatus: (event: StatusEvent) => void;
}

/**
 * The connection's status as the application sees it, the count of failed attempts, and
 * every reconnect (socket.io-client's own reconnection is off): one backoff, capped before
 * its jitter, so that the clients of a dead instance stay spread out however often they fail.
 */
export class ConnectionState {
  private current: ConnectionStatus = "connecting";
  private attempt = 0;
  private everConnected = false;
  private manualAttempts = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(private readonly deps: ConnectionStateDeps) {}

  get status(): ConnectionStatus {
    return this.current;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  up(): void {
    this.everConnected = true;
    this.attempt = 0;
    this.manualAttempts = 0;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.set("connected");
  }

  down(error: RealtimeError): void {
    this.set("reconnecting", error);
  }

  /** A connection attempt failed (counted before deciding what to do about it). */
  attemptFailed(): void {
    this.attempt += 1;
  }

  /** Still trying after a failed attempt. */
  stillTrying(error: RealtimeError): void {
    this.set(this.everConnected ? "reconnecting" : "connecting", error);
  }

  /** Connect again after `delayMs`, or after a backoff that grows with every try. */
  reconnectLater(delayMs?: number): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    this.manualAttempts += 1;
    const delay =
      delayMs ??
      backoffDelayMs(this.manualAttempts, {
        minMs: this.deps.reconnectDelayMs,
        maxMs: this.deps.reconnectDelayMaxMs,
      });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closed && !this.deps.socket.connected) this.deps.socket.connect();
    }, delay);
  }

  /**
   * A handshake refused with a retry hint (`UNAVAILABLE` from an instance saturated by a
   * reconnect storm, `RATE_LIMITED`): the hint, then the usual jittered backoff on top, so
   * that clients refused together do not come back together.
   */
  reconnectAfterHint(retryAfterMs: number): void {
    this.reconnectLater(
      retryAfterMs +
        backoffDelayMs(this.manualAttempts + 1, {
          minMs: this.deps.reconnectDelayMs,
          maxMs: this.deps.reconnectDelayMaxMs,
        }),
    );
  }

  /** For good: no reconnect from now on, and a disconnect is no longer news. */
  stop(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
  }

  /** The last status event, once everything pending has been rejected. */
  announceClosed(reason?: RealtimeError): void {
    this.set("closed", reason);
  }

  private set(next: ConnectionStatus, error?: RealtimeError): void {
    this.current = next;
    const { attempt } = this;
    this.deps.onStatus(error ? { status: next, attempt, error } : { status: next, attempt });
  }
}
