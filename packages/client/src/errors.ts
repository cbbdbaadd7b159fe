import type { ErrorBody, ErrorCode } from "./protocol.js";

/**
 * Codes the SDK produces itself, on top of the server's catalogue (src/protocol/errors.ts).
 * They never travel on the wire, so they are not part of the server's contract.
 */
export const ClientErrorCodes = {
  /** No answer within the timeout. For a send: not even after retrying across reconnects. */
  TIMEOUT: "TIMEOUT",
  /** The connection dropped (or the client was closed) before the answer came. */
  DISCONNECTED: "DISCONNECTED",
} as const;

export type ClientErrorCode = ErrorCode | (typeof ClientErrorCodes)[keyof typeof ClientErrorCodes];

/** What every SDK promise rejects with: a code from the catalogue or a client-side code. */
export class RealtimeError extends Error {
  readonly code: ClientErrorCode;
  /** RATE_LIMITED: when trying again makes sense. */
  readonly retryAfterMs: number | undefined;
  /** INVALID_PAYLOAD: the failing fields, as dotted paths. */
  readonly fields: ErrorBody["fields"];

  constructor(
    code: ClientErrorCode,
    message: string,
    extra: { retryAfterMs?: number; fields?: ErrorBody["fields"] } = {},
  ) {
    super(message);
    this.name = "RealtimeError";
    this.code = code;
    this.retryAfterMs = extra.retryAfterMs;
    this.fields = extra.fields;
  }

  static fromBody(body: ErrorBody): RealtimeError {
    return new RealtimeError(body.code, body.message, {
      retryAfterMs: body.retryAfterMs,
      fields: body.fields,
    });
  }
}

export function isRealtimeError(err: unknown): err is RealtimeError {
  return err instanceof RealtimeError;
}

/** Worth trying again later with the same request: the server did not refuse it for what it is. */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof RealtimeError)) return false;
  return (
    err.code === "UNAVAILABLE" ||
    err.code === "RATE_LIMITED" ||
    err.code === "TIMEOUT" ||
    err.code === "DISCONNECTED"
  );
}

/** The handshake refused the token: a new one is needed before connecting again. */
export function isTokenError(code: string | undefined): boolean {
  return code === "TOKEN_MISSING" || code === "TOKEN_EXPIRED" || code === "TOKEN_INVALID";
}

/** Anything thrown, as a RealtimeError (an application's getToken may throw anything). */
export function toRealtimeError(err: unknown, fallback: ClientErrorCode = "INTERNAL"): RealtimeError {
  if (err instanceof RealtimeError) return err;
  return new RealtimeError(fallback, err instanceof Error ? err.message : String(err));
}
