import { type DestinationStream, type Logger, pino } from "pino";
import { PinoPretty } from "pino-pretty";
import { redactUrlCredentials } from "./redact.js";

export type { Logger };

/**
 * Paths pino blanks out wherever they appear, so that a token, an Authorization
 * header or the internal API key never reaches a log line, whatever module logs it.
 */
export const REDACT_PATHS = [
  "token",
  "*.token",
  "auth.token",
  "*.auth.token",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "req.headers.authorization",
  "req.headers.cookie",
  "apiKey",
  "*.apiKey",
  "internalApiKey",
  "*.internalApiKey",
  "secret",
  "*.secret",
  "password",
  "*.password",
];

export interface LoggerOptions {
  level: string;
  instanceId: string;
  /** `json`: one JSON object per line (for collectors); `pretty`: coloured lines for a person reading a terminal. */
  format?: "json" | "pretty";
  /** Tests pass a stream to read what was logged. */
  destination?: DestinationStream;
}

/** An error as pino serialises it, with URL credentials hidden in every string it carries. */
function serializeError(err: unknown): unknown {
  const serialized: unknown = pino.stdSerializers.err(err as Error);
  if (typeof serialized === "string") return redactUrlCredentials(serialized);
  if (typeof serialized !== "object" || serialized === null) return serialized;
  return redactStrings(serialized as Record<string, unknown>);
}

/**
 * URL credentials hidden in the strings of a log object's first level (and in errors, by
 * their serializer): a Redis URL or an error message quoting one never reaches the log
 * with its password. Deeper values are the redaction paths' business.
 */
function redactStrings(object: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) {
    const value = object[key];
    if (typeof value !== "string" || !value.includes("://")) continue;
    // The caller's object is never changed: it may be logged or used again.
    copy ??= { ...object };
    copy[key] = redactUrlCredentials(value);
  }
  return copy ?? object;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { instanceId: options.instanceId, pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: serializeError },
      formatters: { level: (label) => ({ level: label }), log: redactStrings },
      hooks: {
        logMethod(args, method) {
          const [first, ...rest] = args;
          if (typeof first === "string") return method.apply(this, [redactUrlCredentials(first), ...rest]);
          const message = rest[0];
          if (typeof message === "string") rest[0] = redactUrlCredentials(message);
          return method.apply(this, [first, ...rest] as Parameters<typeof method>);
        },
      },
    },
    options.destination ?? defaultDestination(options.format ?? "json"),
  );
}

function defaultDestination(format: "json" | "pretty"): DestinationStream {
  // In the main thread rather than as a pino transport: a development terminal needs no
  // worker thread, and redaction has already run on the line it formats.
  if (format === "pretty")
    return PinoPretty({ destination: 1, sync: false, translateTime: "SYS:HH:MM:ss.l" });
  return pino.destination({ sync: false });
}

/** Strip the `Bearer` token and anything after `token=` from a string before it is logged. */
export function scrubSecrets(text: string): string {
  return text
    .replace(/Bearer\s+[^\s"']+/gi, "Bearer [redacted]")
    .replace(/token=[^&\s"']+/gi, "token=[redacted]");
}
