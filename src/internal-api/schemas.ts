import { z } from "zod";
import { AppError, describeIssues, MAX_TEXT_HARD_LIMIT, roomId, userId } from "../protocol/index.js";

export const MAX_DATA_BYTES = 8 * 1024;

export const publishNotificationBody = z.object({
  userIds: z.array(userId).min(1).max(1000),
  type: z.string().min(1).max(64),
  title: z.string().min(1).max(200),
  body: z.string().max(2000).optional(),
  data: z
    .record(z.string(), z.unknown())
    .refine((data) => Buffer.byteLength(JSON.stringify(data), "utf8") <= MAX_DATA_BYTES, {
      message: `must be at most ${MAX_DATA_BYTES} bytes as JSON`,
    })
    .optional(),
  idempotencyKey: z.string().min(1).max(200).optional(),
});

export const roomParams = z.object({ roomId });
/** The chat service applies the configured CHAT_MAX_MESSAGE_LENGTH on top. */
export const roomMessageBody = z.object({
  text: z.string().min(1).max(MAX_TEXT_HARD_LIMIT),
  senderId: userId.optional(),
});

export const userParams = z.object({ userId });

/** Parse or throw INVALID_PAYLOAD naming the failing fields (the HTTP 400 body). */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new AppError("INVALID_PAYLOAD", `invalid ${what}`, { fields: describeIssues(parsed.error) });
  }
  return parsed.data;
}
