import { z } from "zod";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../infra/config/sections.js";

/**
 * The webhook payloads: `{type, timestamp, data}` (the Standard Webhooks convention), one
 * `data` schema per event. The OpenAPI document is generated from these schemas.
 */

const userEvent = z.object({ userId: z.string() });

export const webhookData = {
  "user.online": userEvent.extend({
    at: z.number().int().meta({ description: "When the user's first device arrived (ms since epoch)" }),
  }),
  "user.offline": userEvent.extend({
    lastSeen: z.number().int().meta({ description: "When the last device was last known alive (ms)" }),
  }),
  "room.occupied": z.object({
    roomId: z.string(),
    userId: z.string().meta({ description: "The first member in" }),
  }),
  "room.vacated": z.object({
    roomId: z.string(),
    userId: z.string().meta({ description: "The last member out" }),
  }),
  "chat.message.created": z.object({
    roomId: z.string(),
    messageId: z.string(),
    seq: z.number().int().meta({ description: "The message's number in the room's log (1, 2, 3, …)" }),
    epoch: z.string(),
    userId: z.string().meta({ description: "The sender" }),
    senderName: z.string().optional(),
    text: z.string(),
    clientMsgId: z.string().optional(),
    replyTo: z.string().optional().meta({ description: "The id of the message it answers" }),
    mentions: z.array(z.string()).optional().meta({ description: "The user ids it mentions" }),
    createdAt: z.number().int(),
  }),
  "notification.undelivered": z.object({
    userId: z.string(),
    notification: z.object({
      id: z.string(),
      type: z.string(),
      title: z.string(),
      body: z.string().optional(),
      data: z.record(z.string(), z.unknown()).optional(),
      createdAt: z.number().int(),
    }),
  }),
} satisfies Record<WebhookEventType, z.ZodType>;

export type WebhookData<T extends WebhookEventType> = z.infer<(typeof webhookData)[T]>;

/** One schema per event: `{type: <literal>, timestamp, data}`. */
export const webhookPayloads = WEBHOOK_EVENT_TYPES.map((type) =>
  z
    .object({
      type: z.literal(type),
      timestamp: z.string().meta({ description: "When the event happened (ISO 8601)" }),
      data: webhookData[type],
    })
    .meta({ id: `Webhook_${type.replaceAll(".", "_")}` }),
);

/** A stored chat message as the append script wrote it: `{roomId, p: {e, s, t, u, m}}`. */
interface RawMessage {
  roomId: string;
  p: {
    e: string;
    s: number;
    t: number;
    u: string;
    m: {
      text: string;
      senderName?: string;
      clientMsgId?: string;
      replyTo?: string;
      mentions?: string[];
      createdAt: number;
    };
  };
}

/** The data as written in the outbox (by a script or a memory store) → the data the receiver gets. */
export function renderData(type: WebhookEventType, raw: string): unknown {
  const parsed = JSON.parse(raw) as unknown;
  if (type !== "chat.message.created") return parsed;
  const { roomId, p } = parsed as RawMessage;
  return {
    roomId,
    messageId: `${p.t}-${p.s}`,
    seq: p.s,
    epoch: p.e,
    userId: p.u,
    ...(p.m.senderName === undefined ? {} : { senderName: p.m.senderName }),
    text: p.m.text,
    ...(p.m.clientMsgId === undefined ? {} : { clientMsgId: p.m.clientMsgId }),
    ...(p.m.replyTo === undefined ? {} : { replyTo: p.m.replyTo }),
    ...(p.m.mentions === undefined ? {} : { mentions: p.m.mentions }),
    createdAt: p.m.createdAt,
  };
}

/** The body of one delivery. */
export function renderPayload(type: WebhookEventType, raw: string, createdAt: number): string {
  return JSON.stringify({ type, timestamp: new Date(createdAt).toISOString(), data: renderData(type, raw) });
}
