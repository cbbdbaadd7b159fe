/**
 * The one catalogue of error codes a client can see, in acks (`{ok:false, error}`),
 * in `server:error`, in `connect_error` data and in HTTP error bodies.
 * Adding a code is a contract change: document it in the README.
 */
export const ErrorCodes = {
  INVALID_PAYLOAD: "INVALID_PAYLOAD",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  RATE_LIMITED: "RATE_LIMITED",
  UNAVAILABLE: "UNAVAILABLE",
  INTERNAL: "INTERNAL",
  // auth (handshake and auth:refresh)
  TOKEN_MISSING: "TOKEN_MISSING",
  TOKEN_EXPIRED: "TOKEN_EXPIRED",
  TOKEN_INVALID: "TOKEN_INVALID",
  // chat
  NOT_IN_ROOM: "NOT_IN_ROOM",
  // connection limits
  TOO_MANY_CONNECTIONS: "TOO_MANY_CONNECTIONS",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const defaultMessages: Record<ErrorCode, string> = {
  INVALID_PAYLOAD: "the payload does not match the event's schema",
  UNAUTHORIZED: "authentication required",
  FORBIDDEN: "not allowed",
  NOT_FOUND: "not found",
  RATE_LIMITED: "too many requests",
  UNAVAILABLE: "a dependency is unavailable, try again",
  INTERNAL: "internal error",
  TOKEN_MISSING: "no token was sent",
  TOKEN_EXPIRED: "the token has expired",
  TOKEN_INVALID: "the token is invalid",
  NOT_IN_ROOM: "join the room first",
  TOO_MANY_CONNECTIONS: "too many connections",
};

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  retryAfterMs?: number;
  /** For INVALID_PAYLOAD: the failing fields, as dotted paths. */
  fields?: { path: string; message: string }[];
}

/**
 * An error that is meant to reach the client as a code. Anything thrown that is
 * not an AppError becomes INTERNAL and is logged, never sent.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterMs: number | undefined;
  readonly fields: ErrorBody["fields"];

  constructor(
    code: ErrorCode,
    message?: string,
    extra: { retryAfterMs?: number; fields?: ErrorBody["fields"]; cause?: unknown } = {},
  ) {
    super(message ?? defaultMessages[code], { cause: extra.cause });
    this.name = "AppError";
    this.code = code;
    this.retryAfterMs = extra.retryAfterMs;
    this.fields = extra.fields;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.retryAfterMs !== undefined) body.retryAfterMs = this.retryAfterMs;
    if (this.fields !== undefined) body.fields = this.fields;
    return body;
  }
}

/** HTTP status for each code, used by the internal HTTP API. */
export const httpStatusOf: Record<ErrorCode, number> = {
  INVALID_PAYLOAD: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
  TOKEN_MISSING: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_INVALID: 401,
  NOT_IN_ROOM: 409,
  TOO_MANY_CONNECTIONS: 429,
};
