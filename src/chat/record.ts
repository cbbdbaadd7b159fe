import type { ChangeKind, Message } from "../protocol/index.js";
import type { EphemeralRoomEvent, RoomEvent } from "./feed.js";
import type { NewChange, NewMessage } from "./message-store.js";

/**
 * How a chat message and a room's live events are written down: the body stored in the
 * log (the same JSON in every store), and the payloads on a room's pub/sub channel. The
 * Redis append script writes the message payload itself (`message-store-redis.lua.ts`);
 * this module is the reader of both and the writer of the ephemeral events.
 */

/** What the log keeps of a message beyond its sender, seq and time. */
export interface StoredBody {
  text: string;
  senderName?: string;
  clientMsgId?: string;
  createdAt: number;
  replyTo?: string;
  mentions?: string[];
  /** A change entry: what it does and to which message (its id). */
  kind?: ChangeKind;
  target?: string;
  emoji?: string;
  on?: boolean;
}

export function bodyOf(
  input: NewMessage & Partial<Pick<NewChange, "kind" | "target" | "emoji" | "on">>,
): StoredBody {
  const body: StoredBody = { text: input.text, createdAt: input.createdAt };
  if (input.senderName !== undefined) body.senderName = input.senderName;
  if (input.clientMsgId !== undefined) body.clientMsgId = input.clientMsgId;
  if (input.replyTo !== undefined) body.replyTo = input.replyTo;
  if (input.mentions !== undefined && input.mentions.length > 0) body.mentions = input.mentions;
  if (input.kind !== undefined) body.kind = input.kind;
  if (input.target !== undefined) body.target = input.target;
  if (input.emoji !== undefined) body.emoji = input.emoji;
  if (input.on !== undefined) body.on = input.on;
  return body;
}

/** The one place a Message is built from its parts: the field order is the wire's. */
export function messageOf(
  roomId: string,
  head: { epoch: string; seq: number; ms: number },
  senderId: string,
  body: StoredBody,
): Message {
  return {
    id: `${head.ms}-${head.seq}`,
    roomId,
    seq: head.seq,
    epoch: head.epoch,
    senderId,
    ...(body.senderName === undefined ? {} : { senderName: body.senderName }),
    text: body.text,
    ...(body.clientMsgId === undefined ? {} : { clientMsgId: body.clientMsgId }),
    createdAt: body.createdAt,
    ...(body.kind === undefined ? {} : { kind: body.kind }),
    ...(body.target === undefined ? {} : { target: body.target }),
    ...(body.emoji === undefined ? {} : { emoji: body.emoji }),
    ...(body.on === undefined ? {} : { on: body.on }),
    ...(body.replyTo === undefined ? {} : { replyTo: body.replyTo }),
    ...(body.mentions === undefined ? {} : { mentions: body.mentions }),
  };
}

/** A stored message as published on the room's channel: `{e, s, t, u, m}` (epoch, seq, ms, sender, body). */
interface MessagePayload {
  e: string;
  s: number;
  t: number;
  u: string;
  m: StoredBody;
}

type EphemeralPayload =
  | { k: "typing"; u: string; v: boolean }
  | { k: "read"; u: string; i: string }
  | { k: "member"; u: string; v: "join" | "leave" };

export function messageFromPayload(roomId: string, payload: string): Message {
  return fromMessagePayload(roomId, JSON.parse(payload) as MessagePayload);
}

const fromMessagePayload = (roomId: string, p: MessagePayload): Message =>
  messageOf(roomId, { epoch: p.e, seq: p.s, ms: p.t }, p.u, p.m);

export function encodeEphemeral(event: EphemeralRoomEvent): string {
  const payload: EphemeralPayload =
    event.kind === "typing"
      ? { k: "typing", u: event.userId, v: event.typing }
      : event.kind === "read"
        ? { k: "read", u: event.userId, i: event.messageId }
        : { k: "member", u: event.userId, v: event.event };
  return JSON.stringify(payload);
}

/** A payload of the room's channel, or undefined when it is not one this service writes. */
export function decodeRoomEvent(roomId: string, raw: string): RoomEvent | undefined {
  let parsed: Partial<MessagePayload & { k: string; v: unknown; i: unknown }>;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  switch (parsed.k) {
    case undefined:
      return typeof parsed.s === "number" &&
        typeof parsed.t === "number" &&
        typeof parsed.e === "string" &&
        typeof parsed.u === "string" &&
        typeof parsed.m === "object" &&
        parsed.m !== null
        ? { kind: "message", message: fromMessagePayload(roomId, parsed as MessagePayload) }
        : undefined;
    case "typing":
      return typeof parsed.u === "string" && typeof parsed.v === "boolean"
        ? { kind: "typing", roomId, userId: parsed.u, typing: parsed.v }
        : undefined;
    case "read":
      return typeof parsed.u === "string" && typeof parsed.i === "string"
        ? { kind: "read", roomId, userId: parsed.u, messageId: parsed.i }
        : undefined;
    case "member":
      return typeof parsed.u === "string" && (parsed.v === "join" || parsed.v === "leave")
        ? { kind: "member", roomId, userId: parsed.u, event: parsed.v }
        : undefined;
    default:
      return undefined;
  }
}
