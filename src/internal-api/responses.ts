import { z } from "zod";
import { ErrorCodes } from "../protocol/index.js";

/**
 * The internal API's answers as zod schemas: the OpenAPI document describes them (the
 * requests' schemas are those in schemas.ts, which the routes validate with).
 */

export const errorResponse = z
  .object({
    error: z.object({
      code: z.enum(Object.values(ErrorCodes) as [string, ...string[]]),
      message: z.string(),
      retryAfterMs: z.number().int().optional(),
      fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .meta({ id: "Error" });

export const messageResponse = z
  .object({
    id: z.string().meta({ description: "`<ms>-<seq>`" }),
    roomId: z.string(),
    seq: z.number().int(),
    epoch: z.string(),
    senderId: z.string(),
    senderName: z.string().optional(),
    text: z.string(),
    clientMsgId: z.string().optional(),
    createdAt: z.number().int(),
  })
  .meta({ id: "Message" });

export const presenceStateResponse = z
  .object({
    userId: z.string(),
    status: z.enum(["online", "away", "busy", "offline"]),
    text: z.string().optional(),
    lastSeen: z.number().int().meta({ description: "ms since epoch; 0 for a user never seen" }),
    devices: z.number().int().meta({ description: "Connections on every instance" }),
  })
  .meta({ id: "PresenceState" });

export const publishedResponse = z.object({
  notifications: z.array(z.object({ userId: z.string(), id: z.string() })),
});
export const postedMessageResponse = z.object({ message: messageResponse });
export const userResponse = z.object({ userId: z.string() });
/** `before`: the time in force (epoch ms): a later revocation never moves it backwards. */
export const revokedResponse = z.object({ userId: z.string(), before: z.number().int() });

export const roomHistoryResponse = z.object({
  roomId: z.string(),
  epoch: z.string(),
  seq: z.number().int().meta({ description: "The room's last seq" }),
  messages: z.array(messageResponse).meta({ description: "Oldest first" }),
  hasMore: z.boolean().meta({ description: "More messages beyond the page in the direction it was read" }),
});

export const roomOnlineResponse = z.object({ roomId: z.string(), users: z.array(presenceStateResponse) });

export const unreadCountResponse = z.object({ userId: z.string(), unreadCount: z.number().int() });

export const instancesResponse = z.object({
  instances: z.array(
    z.object({
      instanceId: z.string(),
      registration: z.string().meta({ description: "The instance's current entry in the registry" }),
      lastHeartbeat: z.number().int(),
      connections: z.number().int(),
    }),
  ),
});

export const deadLettersResponse = z.object({
  deadLetters: z.array(
    z.object({
      id: z.string().meta({ description: "The dead letter's id: what redeliver takes" }),
      webhookId: z
        .string()
        .meta({ description: "The `webhook-id` every attempt carried, and a redelivery carries" }),
      type: z.string(),
      createdAt: z.number().int(),
      deadAt: z.number().int(),
      attempts: z.number().int(),
      lastError: z.string(),
      data: z.unknown().meta({ description: "The event's `data`, as the webhook carries it" }),
    }),
  ),
  next: z.string().optional().meta({ description: "Pass as `after` for the next page; absent on the last" }),
});

export const redeliveredResponse = z.object({ id: z.string() });
