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

export interface RateLimiter {
  /** Resolves when allowed; rejects with AppError RATE_LIMITED (with retryAfterMs) otherwise. */
  consume(key: string): Promise<void>;
}

export type RateLimiterFactory = (name: string, rule: RateLimitRule) => RateLimiter;

interface Consumer {
  consume(key: string | number, points?: number): Promise<RateLimiterRes>;
}

/**
 * Limits shared by every instance when Redis is configured (the counters live there),
 * per process otherwise. While Redis is down each instance falls back to its own
 * in-memory counters (the insurance limiter) rather than refusing everything.
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
    const prefix = `${options.keyPrefix}rl:${name}`;
    const main = make(prefix, rule.points, rule.durationSec);
    const limiter: Consumer =
      rule.burstPoints && rule.burstPoints > 0
        ? new BurstyRateLimiter(main, make(`${prefix}:burst`, rule.burstPoints, rule.burstDurationSec ?? 10))
        : main;
    return {
      async consume(key) {
        try {
          await limiter.consume(key);
        } catch (rejection) {
          if (rejection instanceof RateLimiterRes) {
            throw new AppError("RATE_LIMITED", `rate limit for ${name} exceeded`, {
              retryAfterMs: Math.max(1, Math.ceil(rejection.msBeforeNext)),
            });
          }
          throw rejection;
        }
      },
    };
  };
}
