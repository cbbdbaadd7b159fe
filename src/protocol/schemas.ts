import { z } from "zod";
import { MESSAGE_ID_PATTERN, ROOM_ID_PATTERN, USER_ID_PATTERN } from "./patterns.js";

/**
 * Payload schemas for every client→server event. Compiled once at module load;
 * handlers only ever see parsed values. Unknown keys are stripped, so a client
 * cannot smuggle `senderId`/`userId` into what a handler reads.
 */

export const roomId = z.string().regex(ROOM_ID_PATTERN, "must be kind:id");
export const messageId = z.string().regex(MESSAGE_ID_PATTERN, "must be a message id");
export const userId = z.string().regex(USER_ID_PATTERN, "must be a user id");

/** The hard upper bound; the configured CHAT_MAX_MESSAGE_LENGTH is checked by the chat service. */
export const MAX_TEXT_HARD_LIMIT = 100_000;

export const authRefreshPayload = z.object({ token: z.string().min(1).max(16_384) });

/** A room log's epoch: what the server hands out (base64url), bounded. */
export const epochSchema = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, "must be an epoch from the server");

export const chatJoinPayload = z
  .object({
    roomId,
    /** The last seq the client holds, with the epoch it belongs to. */
    sinceSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    epoch: epochSchema.optional(),
    /** The older cursor: the id of the last message the client holds. */
    since: messageId.optional(),
    /** A room token (a JWT with a `room` claim) for a room the connection's token does not grant. */
    token: z.string().min(1).max(16_384).optional(),
  })
  .refine((p) => (p.sinceSeq === undefined) === (p.epoch === undefined), {
    message: "sinceSeq and epoch go together",
    path: ["epoch"],
  })
  .refine((p) => p.sinceSeq === undefined || p.since === undefined, {
    message: "give sinceSeq or since, not both",
    path: ["since"],
  });
export const chatLeavePayload = z.object({
  roomId,
  /** Also drop the room from the user's room list (`chat:rooms`). */
  forget: z.boolean().optional(),
});
export const chatRoomsPayload = z
  .object({
    limit: z.number().int().min(1).max(100).optional(),
    cursor: z
      .string()
      .regex(/^\d{1,16}:.{3,200}$/, "must be a cursor from chat:rooms")
      .optional(),
  })
  .optional()
  .default({});
const clientMsgId = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "1..64 characters of A-Z a-z 0-9 _ . : -")
  .optional();
/** At most this many user ids in a message's `mentions`. */
export const MAX_MENTIONS = 20;
export const chatSendPayload = z.object({
  roomId,
  text: z.string().max(MAX_TEXT_HARD_LIMIT),
  clientMsgId,
  replyTo: messageId.optional(),
  mentions: z.array(userId).max(MAX_MENTIONS).optional(),
});
export const chatEditPayload = z.object({
  roomId,
  messageId,
  text: z.string().max(MAX_TEXT_HARD_LIMIT),
  clientMsgId,
});
export const chatDeletePayload = z.object({ roomId, messageId, clientMsgId });
/** The bound of an emoji's spelling; whether it is one grapheme or a `:name:` is checked by the service. */
export const chatReactPayload = z.object({
  roomId,
  messageId,
  emoji: z.string().min(1).max(64),
  on: z.boolean(),
  clientMsgId,
});
export const chatHistoryPayload = z.object({
  roomId,
  before: messageId.optional(),
  after: messageId.optional(),
  limit: z.number().int().min(1).max(100).optional(),
});
export const chatTypingPayload = z.object({ roomId, typing: z.boolean() });
export const chatReadPayload = z.object({ roomId, messageId });

export const presenceStatus = z.enum(["online", "away", "busy"]);
export const presenceSetPayload = z.object({ status: presenceStatus, text: z.string().max(140).optional() });
export const presenceUserIdsPayload = z.object({ userIds: z.array(userId).min(1).max(500) });

export const notificationListPayload = z
  .object({
    limit: z.number().int().min(1).max(100).optional(),
    before: z.string().min(1).max(64).optional(),
    unreadOnly: z.boolean().optional(),
  })
  .optional()
  .default({});
export const notificationReadPayload = z.union([
  z.object({ ids: z.array(z.string().min(1).max(64)).min(1).max(500) }),
  z.object({ all: z.literal(true) }),
]);

export type AuthRefreshPayload = z.infer<typeof authRefreshPayload>;
export type ChatJoinPayload = z.infer<typeof chatJoinPayload>;
export type ChatLeavePayload = z.infer<typeof chatLeavePayload>;
export type ChatSendPayload = z.infer<typeof chatSendPayload>;
export type ChatRoomsPayload = z.output<typeof chatRoomsPayload>;
export type ChatEditPayload = z.infer<typeof chatEditPayload>;
export type ChatDeletePayload = z.infer<typeof chatDeletePayload>;
export type ChatReactPayload = z.infer<typeof chatReactPayload>;
export type ChatHistoryPayload = z.infer<typeof chatHistoryPayload>;
export type ChatTypingPayload = z.infer<typeof chatTypingPayload>;
export type ChatReadPayload = z.infer<typeof chatReadPayload>;
export type PresenceSetPayload = z.infer<typeof presenceSetPayload>;
export type PresenceUserIdsPayload = z.infer<typeof presenceUserIdsPayload>;
export type NotificationListPayload = z.input<typeof notificationListPayload>;
export type NotificationReadPayload = z.infer<typeof notificationReadPayload>;

/** Dotted paths and messages of a failed parse, for INVALID_PAYLOAD. */
export function describeIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.slice(0, 20).map((issue) => ({
    path: issue.path.map(String).join(".") || "(root)",
    message: issue.message,
  }));
}
