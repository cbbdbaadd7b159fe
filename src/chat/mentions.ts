import type { Logger } from "../infra/logger.js";
import type { Message, PresenceState } from "../protocol/index.js";

/** What a mention needs of the presence and notification services. */
export interface MentionDeps {
  presence: { query(userIds: readonly string[]): Promise<PresenceState[]> };
  notifications: {
    publish(input: {
      userIds: string[];
      type: string;
      title: string;
      body?: string;
      data?: Record<string, unknown>;
      idempotencyKey?: string;
    }): Promise<unknown>;
  };
  logger: Logger;
}

/** Hands a stored message's mentions on: the mentioned users who are offline get a notification. */
export interface MentionNotifier {
  stored(message: Message): void;
}

/** The notification's `type`. */
export const MENTION_NOTIFICATION_TYPE = "chat.mention";
/** Characters of the message's text the notification's body carries. */
const BODY_MAX = 200;

/**
 * A mentioned user who is offline (no connection on any instance, presence says) gets a
 * stored notification through the notification service: it is in their inbox when they
 * come back, and reaches the backend as `notification.undelivered` when webhooks are on.
 * Online users see the message (and its `mentions`) in the room or through `chat:room`.
 * Fire and forget after the message is stored: a failure is logged, the send stands.
 */
export function createMentionNotifier(deps: MentionDeps): MentionNotifier {
  const logger = deps.logger.child({ module: "mentions" });

  const notify = async (message: Message, mentioned: string[]) => {
    const states = await deps.presence.query(mentioned);
    const offline = states.filter((s) => s.status === "offline").map((s) => s.userId);
    if (offline.length === 0) return;
    const from = message.senderName ?? message.senderId;
    await deps.notifications.publish({
      userIds: offline,
      type: MENTION_NOTIFICATION_TYPE,
      title: `${from} mentioned you in ${message.roomId}`.slice(0, 200),
      body: [...message.text].slice(0, BODY_MAX).join(""),
      data: { roomId: message.roomId, messageId: message.id, seq: message.seq, senderId: message.senderId },
      // One notification per message and user, whatever retries happen around it.
      idempotencyKey: `chat.mention:${message.roomId}:${message.epoch}:${message.id}`.slice(0, 200),
    });
  };

  return {
    stored(message) {
      const mentioned = (message.mentions ?? []).filter((id) => id !== message.senderId);
      if (mentioned.length === 0) return;
      notify(message, mentioned).catch((err: unknown) =>
        logger.warn({ roomId: message.roomId, err: (err as Error).message }, "mention notification failed"),
      );
    },
  };
}
