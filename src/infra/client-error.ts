import { AppError } from "../protocol/index.js";
import { isRedisUnavailableError } from "./redis.js";

/**
 * What a client may be told of a failure, wherever it surfaces (an event's ack, an HTTP
 * error, a Redis script): an AppError as it is, a Redis that cannot be reached as
 * UNAVAILABLE (retry), and nothing of anything else: that is a bug, answered INTERNAL and
 * logged by the caller.
 */
export function clientErrorOf(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  if (isRedisUnavailableError(err)) return new AppError("UNAVAILABLE", undefined, { cause: err });
  return undefined;
}
