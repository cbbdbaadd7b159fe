import { type DestinationStream, type Logger, pino } from "pino";

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
];

export interface LoggerOptions {
  level: string;
  instanceId: string;
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
    options.destination ?? pino.destination({ sync: false }),
  );
}

/** Strip the `Bearer` token and anything after `token=` from a string before it is logged. */
export function scrubSecrets(text: string): string {
  return text
    .replace(/Bearer\s+[^\s"']+/gi, "Bearer [redacted]")
    .replace(/token=[^&\s"']+/gi, "token=[redacted]");
}
