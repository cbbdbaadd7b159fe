import { z } from "zod";
import { AppError, describeIssues, MAX_TEXT_HARD_LIMIT, roomId, userId } from "../protocol/index.js";
import { nestingDepthExceeds } from "./json-bounds.js";

export const MAX_DATA_BYTES = 8 * 1024;
/** `data` itself is level 1: `{"a": {"b": 1}}` is 2 levels deep. */
export const MAX_DATA_DEPTH = 32;

/** A JSON object of bounded depth (checked first, without recursion) and size. */
const notificationData = z.record(z.string(), z.unknown()).superRefine((data, ctx) => {
  if (nestingDepthExceeds(data, MAX_DATA_DEPTH)) {
    ctx.addIssue({ code: "custom", message: `must be nested at most ${MAX_DATA_DEPTH} levels deep` });
  } else if (Buffer.byteLength(JSON.stringify(data), "utf8") > MAX_DATA_BYTES) {
    ctx.addIssue({ code: "custom", message: `must be at most ${MAX_DATA_BYTES} bytes as JSON` });
  }
});

export const publishNotificationBody = z.object({
  userIds: z.array(userId).min(1).max(1000),
  type: z.string().min(1).max(64),
  title: z.string().min(1).max(200),
  body: z.string().max(2000).optional(),
  data: notificationData.optional(),
  idempotencyKey: z.string().min(1).max(200).optional(),
});

export const roomParams = z.object({ roomId });
/** The chat service applies the configured CHAT_MAX_MESSAGE_LENGTH on top. */
export const roomMessageBody = z.object({
  text: z.string().min(1).max(MAX_TEXT_HARD_LIMIT),
  senderId: userId.optional(),
});

export const userParams = z.object({ userId });

/** `before`: epoch milliseconds or an ISO 8601 time; unset: now. */
export const revokeBody = z
  .object({
    before: z
      .union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.iso.datetime({ offset: true })])
      .optional(),
  })
  .optional()
  .default({});

const seqParam = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A room's log paged by seq: newest first without `afterSeq`, oldest first after it. */
export const roomHistoryQuery = z.object({
  beforeSeq: seqParam.optional().meta({ description: "Only messages below this seq" }),
  afterSeq: seqParam.optional().meta({ description: "Only messages above this seq, oldest first" }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** A stream entry id: `<ms>-<seq>`. */
const streamId = z.string().regex(/^\d{1,20}-\d{1,20}$/, "must be an id like 1733100000000-0");

export const deadLetterListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  after: streamId.optional().meta({ description: "The `next` of the previous page" }),
});
export const deadLetterParams = z.object({ id: streamId });

/** Parse or throw INVALID_PAYLOAD naming the failing fields (the HTTP 400 body). */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new AppError("INVALID_PAYLOAD", `invalid ${what}`, { fields: describeIssues(parsed.error) });
  }
  return parsed.data;
}
