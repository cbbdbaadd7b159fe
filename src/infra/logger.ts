import { type DestinationStream, type Logger, pino } from "pino";
import { PinoPretty } from "pino-pretty";

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

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { instanceId: options.instanceId, pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
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
