import { z } from "zod";
import { type BackendCall, postToBackend } from "../infra/backend-call.js";
import type { Logger } from "../infra/logger.js";
import { AppError } from "../protocol/index.js";
import type { AccessCache } from "./access-cache.js";

/** The backend's answer: `ttlSec` overrides ROOM_ACCESS_TTL_SEC for this user and room (0: not cached). */
export const accessAnswer = z.object({
  allow: z.boolean(),
  ttlSec: z.number().int().min(0).max(86_400).optional(),
});

export interface AccessHook {
  /**
   * Whether the backend lets the user into the room: the cached answer, or, on a miss, the
   * backend's. Rejects with UNAVAILABLE when the backend does not answer in time, answers
   * 5xx or something unreadable: never a silent allow.
   */
  allows(userId: string, roomId: string): Promise<boolean>;
}

export interface AccessHookDeps {
  call: BackendCall;
  /** ROOM_ACCESS_TTL_SEC: for answers without `ttlSec`. */
  defaultTtlSec: number;
  cache: AccessCache;
  logger: Logger;
  /** Each call's outcome and duration, for the metrics. */
  onCall?(outcome: "allow" | "deny" | "failed", seconds: number): void;
}

/**
 * The room access hook: `POST {userId, roomId}` → `{allow, ttlSec?}`, answers cached per
 * user and room in the shared cache. Concurrent misses of one user and room on this
 * instance share one call.
 */
export function createAccessHook(deps: AccessHookDeps): AccessHook {
  const log = deps.logger.child({ module: "room-access" });
  const inFlight = new Map<string, Promise<boolean>>();

  const ask = async (userId: string, roomId: string): Promise<boolean> => {
    const started = performance.now();
    const answer = await postToBackend(deps.call, { userId, roomId });
    const seconds = (performance.now() - started) / 1000;
    const parsed =
      answer.kind === "answer" && answer.status >= 200 && answer.status < 300
        ? accessAnswer.safeParse(answer.body)
        : undefined;
    if (!parsed?.success) {
      const reason =
        answer.kind === "failed" ? answer.reason : parsed ? "an unreadable answer" : `HTTP ${answer.status}`;
      log.warn({ userId, roomId, reason }, "room access hook failed");
      deps.onCall?.("failed", seconds);
      throw new AppError("UNAVAILABLE", "the room access check is unavailable, retry");
    }
    const { allow, ttlSec = deps.defaultTtlSec } = parsed.data;
    deps.onCall?.(allow ? "allow" : "deny", seconds);
    if (ttlSec > 0) {
      await deps.cache.set(userId, roomId, allow, ttlSec).catch((err: unknown) => {
        // Only a cost: the next check asks the backend again.
        log.debug({ userId, roomId, err: (err as Error).message }, "room access answer not cached");
      });
    }
    return allow;
  };

  const cached = async (userId: string, roomId: string): Promise<boolean | undefined> => {
    try {
      return await deps.cache.get(userId, roomId);
    } catch (err) {
      // Redis is down: the backend is asked instead (it still decides; nothing is allowed silently).
      log.debug({ userId, roomId, err: (err as Error).message }, "room access cache unreadable");
      return undefined;
    }
  };

  return {
    async allows(userId, roomId) {
      const hit = await cached(userId, roomId);
      if (hit !== undefined) return hit;
      const key = `${userId}\n${roomId}`;
      const pending = inFlight.get(key);
      if (pending) return pending;
      const call = ask(userId, roomId).finally(() => inFlight.delete(key));
      inFlight.set(key, call);
      return call;
    },
  };
}
