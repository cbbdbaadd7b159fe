import { z } from "zod";
import { type BackendCall, postToBackend } from "../infra/backend-call.js";
import type { Logger } from "../infra/logger.js";
import { AppError } from "../protocol/index.js";

/** The backend's verdict on a message: store it, refuse it (the reason reaches the sender), or store other text. */
export const moderationAnswer = z.discriminatedUnion("action", [
  z.object({ action: z.literal("allow") }),
  z.object({ action: z.literal("reject"), reason: z.string().max(500).optional() }),
  z.object({ action: z.literal("replace"), text: z.string() }),
]);

/** What the moderation hook is sent for each `chat:send`. */
export interface MessageUnderReview {
  roomId: string;
  userId: string;
  senderName?: string;
  /** As it would be stored: trimmed, within CHAT_MAX_MESSAGE_LENGTH. */
  text: string;
  clientMsgId?: string;
  /** For a `chat:edit`: the id of the message whose text this would replace. */
  editOf?: string;
}

export interface Moderation {
  /**
   * The text to store: as sent, or the backend's replacement (checked like a sent text).
   * FORBIDDEN with the backend's reason when it rejects; on a timeout, a 5xx or an
   * unreadable answer, UNAVAILABLE (`closed`) or the text as sent (`open`).
   */
  review(message: MessageUnderReview): Promise<string>;
}

export interface ModerationDeps {
  call: BackendCall;
  /** MESSAGE_HOOK_FAILURE. */
  failure: "open" | "closed";
  /** Applied to a replacement as to a sent text: the result, or INVALID_PAYLOAD. */
  checkText(text: string): string;
  logger: Logger;
  /** Each call's outcome and duration, for the metrics. */
  onCall?(outcome: "allow" | "reject" | "replace" | "failed", seconds: number): void;
}

/**
 * The moderation hook: `POST {roomId, userId, senderName?, text, clientMsgId?, editOf?}` before
 * a message, or an edit's new text, is stored.
 */
export function createModeration(deps: ModerationDeps): Moderation {
  const log = deps.logger.child({ module: "moderation" });

  const failed = (message: MessageUnderReview, reason: string, seconds: number): string => {
    deps.onCall?.("failed", seconds);
    log.warn(
      { roomId: message.roomId, userId: message.userId, reason, policy: deps.failure },
      "moderation hook failed",
    );
    if (deps.failure === "open") return message.text;
    throw new AppError("UNAVAILABLE", "the message could not be checked, retry");
  };

  return {
    async review(message) {
      const started = performance.now();
      const answer = await postToBackend(deps.call, message);
      const seconds = (performance.now() - started) / 1000;
      if (answer.kind === "failed") return failed(message, answer.reason, seconds);
      if (answer.status < 200 || answer.status >= 300)
        return failed(message, `HTTP ${answer.status}`, seconds);
      const parsed = moderationAnswer.safeParse(answer.body);
      if (!parsed.success) return failed(message, "an unreadable answer", seconds);
      const verdict = parsed.data;
      if (verdict.action === "reject") {
        deps.onCall?.("reject", seconds);
        throw new AppError(
          "FORBIDDEN",
          `rejected by moderation${verdict.reason ? `: ${verdict.reason}` : ""}`,
        );
      }
      if (verdict.action === "allow") {
        deps.onCall?.("allow", seconds);
        return message.text;
      }
      let text: string;
      try {
        text = deps.checkText(verdict.text);
      } catch {
        return failed(message, "a replacement text that is empty or too long", seconds);
      }
      deps.onCall?.("replace", seconds);
      return text;
    },
  };
}
