import { z } from "zod";
import { int, optionalString, problem } from "./fields.js";

/**
 * The calls this service makes to the product's backend: the room access hook (a join the
 * token does not grant) and the moderation hook (every chat:send, before it is stored).
 * Each is off until its URL is set; each authenticates with its own Bearer key.
 */

const hookUrl = optionalString.pipe(
  z
    .string()
    .regex(/^https?:\/\//, "must be an http:// or https:// URL")
    .refine((url) => URL.canParse(url), "is not a valid URL")
    .optional(),
);

/** Within the event router's ack deadline (3.5 s), so a slow backend answers UNAVAILABLE, not a timeout. */
const hookTimeout = int(50, 3000);

export const roomAccessSection = z
  .object({
    ROOM_ACCESS_URL: hookUrl,
    ROOM_ACCESS_KEY: optionalString,
    ROOM_ACCESS_TIMEOUT_MS: hookTimeout.default(1500),
    ROOM_ACCESS_TTL_SEC: int(0, 86_400).default(60),
  })
  .transform((e, ctx) => {
    if (e.ROOM_ACCESS_URL !== undefined && e.ROOM_ACCESS_KEY === undefined) {
      problem(ctx, "ROOM_ACCESS_KEY: required with ROOM_ACCESS_URL (the backend must know the caller)");
    }
    return {
      /** Unset: only the token's claims and room tokens grant rooms. */
      url: e.ROOM_ACCESS_URL,
      key: e.ROOM_ACCESS_KEY,
      timeoutMs: e.ROOM_ACCESS_TIMEOUT_MS,
      /** How long an answer is cached when the backend gives no ttlSec; 0: not cached. */
      defaultTtlSec: e.ROOM_ACCESS_TTL_SEC,
    };
  });

export const messageHookSection = z
  .object({
    MESSAGE_HOOK_URL: hookUrl,
    MESSAGE_HOOK_KEY: optionalString,
    MESSAGE_HOOK_TIMEOUT_MS: hookTimeout.default(1000),
    MESSAGE_HOOK_FAILURE: z.enum(["open", "closed"]).default("closed"),
  })
  .transform((e, ctx) => {
    if (e.MESSAGE_HOOK_URL !== undefined && e.MESSAGE_HOOK_KEY === undefined) {
      problem(ctx, "MESSAGE_HOOK_KEY: required with MESSAGE_HOOK_URL (the backend must know the caller)");
    }
    return {
      /** Unset: messages are stored as sent. */
      url: e.MESSAGE_HOOK_URL,
      key: e.MESSAGE_HOOK_KEY,
      timeoutMs: e.MESSAGE_HOOK_TIMEOUT_MS,
      /** A timeout or 5xx: `open` stores the message as sent, `closed` refuses it (UNAVAILABLE). */
      failure: e.MESSAGE_HOOK_FAILURE,
    };
  });
