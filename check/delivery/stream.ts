import type { Redis } from "ioredis";

/** One stored chat message as the stream holds it. */
export interface StoredMessage {
  /** The message id clients see. */
  id: string;
  /** The room's sequence number, where the stream has one. */
  seq?: number;
  senderId: string;
  clientMsgId?: string;
  /** A change entry: what it does, to which message id, with what. */
  kind?: "edit" | "delete" | "reaction";
  target?: string;
  text?: string;
  emoji?: string;
  on?: boolean;
}

/** A room's retained log, oldest first, and its sequence's state. */
export interface RoomLog {
  roomId: string;
  messages: StoredMessage[];
  epoch?: string;
  /** The last seq the room assigned (`meta.seq`). */
  lastSeq?: number;
}

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * One stream entry as a message. The per-room sequence layout is entry id `<seq>-0` with
 * `t` = the ms of the message id (`<t>-<seq>`); an entry without `t` is the older layout,
 * whose entry id is the message id. The only code that knows the layout: adjust it here.
 */
export function parseStreamEntry(entryId: string, fields: string[]): StoredMessage {
  const body = JSON.parse(field(fields, "m") ?? "{}") as Pick<
    StoredMessage,
    "clientMsgId" | "kind" | "target" | "text" | "emoji" | "on"
  >;
  const t = field(fields, "t");
  const base = {
    senderId: field(fields, "u") ?? "",
    ...(body.clientMsgId === undefined ? {} : { clientMsgId: body.clientMsgId }),
    ...(body.text === undefined ? {} : { text: body.text }),
    ...(body.kind === undefined ? {} : { kind: body.kind }),
    ...(body.target === undefined ? {} : { target: body.target }),
    ...(body.emoji === undefined ? {} : { emoji: body.emoji }),
    ...(body.on === undefined ? {} : { on: body.on }),
  };
  if (t === undefined) return { id: entryId, ...base };
  const seq = Number(entryId.split("-")[0]);
  return { id: `${t}-${seq}`, seq, ...base };
}

const BATCH = 1000;

/** `XRANGE - +` of the room's stream (in batches) and its `meta` hash, read directly from Redis. */
export async function readRoomLog(redis: Redis, keyPrefix: string, roomId: string): Promise<RoomLog> {
  const key = `${keyPrefix}chat:{${roomId}}:messages`;
  const messages: StoredMessage[] = [];
  let start = "-";
  for (;;) {
    const entries = (await redis.xrange(key, start, "+", "COUNT", BATCH)) as [string, string[]][];
    for (const [id, fields] of entries) messages.push(parseStreamEntry(id, fields));
    const last = entries.at(-1);
    if (entries.length < BATCH || !last) break;
    start = `(${last[0]}`;
  }
  const meta = await redis.hgetall(`${keyPrefix}chat:{${roomId}}:meta`);
  return {
    roomId,
    messages,
    ...(meta.epoch === undefined ? {} : { epoch: meta.epoch }),
    ...(meta.seq === undefined ? {} : { lastSeq: Number(meta.seq) }),
  };
}
