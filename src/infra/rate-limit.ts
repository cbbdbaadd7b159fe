import {
  BurstyRateLimiter,
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from "rate-limiter-flexible";
import { AppError } from "../protocol/index.js";
import type { RedisClient } from "./redis.js";

export interface RateLimitRule {
  /** Sustained allowance: `points` per `durationSec`. */
  points: number;
  durationSec: number;
  /** Extra allowance on top, refilled over `burstDurationSec` (token-bucket-like bursts). */
  burstPoints?: number;
  burstDurationSec?: number;
}

/** One fixed-window counter of a limit, as rate-limiter-flexible's RateLimiterRedis keeps it. */
export interface RedisCounter {
  key: string;
  points: number;
  durationSec: number;
}

export interface RateLimiter {
  readonly name: string;
  /** Resolves when allowed; rejects with AppError RATE_LIMITED (with retryAfterMs) otherwise. */
  consume(key: string): Promise<void>;
  /**
   * The Redis counters `consume(key)` updates (the sustained one, then the burst one), for
   * a store script to consume with its write (rate-limit-script.ts). Absent when they
   * cannot share a script with other keys: counted in this process, or on a Redis Cluster
   * (the counters' slots are not the script's).
   */
  scriptCounters?(key: string): RedisCounter[];
}

/** The refusal `consume` rejects with, for limits checked elsewhere (a store script). */
export function rateLimited(name: string, msBeforeNext: number): AppError {
  return new AppError("RATE_LIMITED", `rate limit for ${name} exceeded`, {
    retryAfterMs: Math.max(1, Math.ceil(msBeforeNext)),
  });
}

/**
 * A route's limit that the handler consumes together with its own write instead of the
 * router before the handler runs (`chat:send`: inside the append script, one Redis round
 * trip for both, and a send refused for its room or text does not count).
 */
export interface InlineRateLimit {
  readonly inline: RateLimiter;
}

export const inlineLimit = (limiter: RateLimiter): InlineRateLimit => ({ inline: limiter });

/** An inline limit for one user, handed to the handler: it still has to be consumed. */
export interface PendingLimit {
  limiter: RateLimiter;
  key: string;
}

export type RateLimiterFactory = (name: string, rule: RateLimitRule) => RateLimiter;

/** Limiter names never hold `/`: it ends the name in every counter key (see below). */
const LIMITER_NAME = /^[a-z][a-z0-9:-]*$/;

interface Consumer {
  consume(key: string | number, points?: number): Promise<RateLimiterRes>;
}

/**
 * Limits shared by every instance when Redis is configured (the counters live there),
 * per process otherwise. While Redis is down each instance falls back to its own
 * in-memory counters (the insurance limiter) rather than refusing everything.
 *
 * A counter's key is `<prefix>rl:<name>/<counter>:<key>` (`counter` is `rate` or
 * `burst`; rate-limiter-flexible adds the `:`). The name ends at the first `/` and the
 * counter at the next `:`, so whatever the key holds (user ids may contain `:`), two
 * different limiters, counters or keys never share a counter (with `<name>:<key>` and
 * `<name>:burst:<key>`, user `burst:w1`'s counter would be user `w1`'s burst counter).
 */
export function createRateLimiterFactory(options: {
  redis?: RedisClient;
  keyPrefix: string;
}): RateLimiterFactory {
  const make = (keyPrefix: string, points: number, duration: number): RateLimiterAbstract => {
    if (!options.redis) return new RateLimiterMemory({ keyPrefix, points, duration });
    return new RateLimiterRedis({
      storeClient: options.redis,
      keyPrefix,
      points,
      duration,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration }),
    });
  };

  return (name, rule) => {
    if (!LIMITER_NAME.test(name)) throw new Error(`rate limiter name ${JSON.stringify(name)} is not valid`);
    const counterPrefix = (counter: "rate" | "burst") => `${options.keyPrefix}rl:${name}/${counter}`;
    const main = make(counterPrefix("rate"), rule.points, rule.durationSec);
    const burst =
      rule.burstPoints && rule.burstPoints > 0
        ? make(counterPrefix("burst"), rule.burstPoints, rule.burstDurationSec ?? 10)
        : undefined;
    const limiter: Consumer = burst ? new BurstyRateLimiter(main, burst) : main;
    const counted = burst ? [main, burst] : [main];
    return {
      name,
      async consume(key) {
        try {
          await limiter.consume(key);
        } catch (rejection) {
          if (rejection instanceof RateLimiterRes) throw rateLimited(name, rejection.msBeforeNext);
          throw rejection;
        }
      },
      ...(options.redis && !options.redis.isCluster
        ? {
            scriptCounters: (key: string) =>
              counted.map((l) => ({ key: l.getKey(key), points: l.points, durationSec: l.duration })),
          }
        : {}),
    };
  };
}
