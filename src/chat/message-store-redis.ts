import { randomBytes } from "node:crypto";
import { limitForScript } from "../infra/rate-limit-script.js";
import type { RedisClient } from "../infra/redis.js";
import { defineScript } from "../infra/redis-script.js";
import { AppError, type Message } from "../protocol/index.js";
import type { OutboxWriter } from "../webhooks/outbox.js";
import { roomChannel, roomKey } from "./keys.js";
import { folded, parseState } from "./log-state.js";
import {
  type AppendResult,
  type ChangeResult,
  type LogCursor,
  type LogPage,
  MAX_REACTION_KINDS,
  type MarkReadResult,
  type MessageStore,
  type ReadState,
  type RecoveryPage,
  type RoomHead,
  type RoomSummary,
  SUMMARY_SCAN,
  type TargetLookup,
} from "./message-store.js";
import {
  APPEND_LUA,
  CHANGE_LUA,
  MARK_READ_LUA,
  READ_LUA,
  READ_STATE_LUA,
  SUMMARY_LUA,
} from "./message-store.lua.js";
import { bodyOf, messageFromPayload, messageOf, type StoredBody } from "./record.js";

/** SPUBLISH (sharded pub/sub, Redis >= 7) or PUBLISH: the same kind the relay subscribes with. */
export type PublishCommand = "PUBLISH" | "SPUBLISH";

export interface RedisMessageStoreOptions {
  redis: RedisClient;
  keyPrefix: string;
  historyLimit: number;
  /** 0: no time-based retention. */
  retentionMs: number;
  idempotencyTtlSec: number;
  unreadCap: number;
  /** Read when a message is appended: the pub/sub kind is known once the app has asked Redis. */
  publishCommand: () => PublishCommand;
  /** Where `chat.message.created` goes, in the append's own step (unset: no webhooks). */
  outbox?: OutboxWriter;
}

type StreamEntry = [id: string, fields: string[]];
/** What APPEND_LUA answers once the rate limit's refusal is checked: stored, or a repeated clientMsgId. */
type AppendReply = [1, payload: string] | [0, payload: string];
type ReadReply = [epoch: string, seq: string, entries: StreamEntry[], states: (string | null | false)[]];
/** CHANGE_LUA's answer: status, the entry's payload, the target entry and its state json. */
type ChangeReply = [
  status: number,
  payload?: string | null | false,
  target?: StreamEntry,
  state?: string | null | false,
  epoch?: string,
];

const CHANGE_REFUSALS: Record<number, AppError> = {
  [-1]: new AppError("NOT_FOUND", "no such message in this room"),
  [-2]: new AppError("NOT_FOUND", "the message is no longer in the room's retained history"),
  [-3]: new AppError("NOT_FOUND", "the message was deleted"),
  [-4]: new AppError("FORBIDDEN", `a message holds at most ${MAX_REACTION_KINDS} different reactions`),
};

/** A fresh epoch for every write that might start one: a restarted Redis must never see an old one again. */
const candidateEpoch = (): string => randomBytes(8).toString("base64url");

const seqOfEntry = (id: string): number => Number(id.slice(0, id.indexOf("-")));

function entryToMessage(roomId: string, epoch: string, [id, fields]: StreamEntry): Message {
  let senderId = "";
  let ms = 0;
  let json = "{}";
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1] as string;
    if (fields[i] === "u") senderId = value;
    else if (fields[i] === "t") ms = Number(value);
    else if (fields[i] === "m") json = value;
  }
  return messageOf(roomId, { epoch, seq: seqOfEntry(id), ms }, senderId, JSON.parse(json) as StoredBody);
}

export function createRedisMessageStore(options: RedisMessageStoreOptions): MessageStore {
  const { redis, keyPrefix } = options;
  const appendScript = defineScript(redis, { name: "chatAppend", lua: APPEND_LUA });
  const readScript = defineScript(redis, { name: "chatRead", lua: READ_LUA });
  const markReadScript = defineScript(redis, { name: "chatMarkRead", lua: MARK_READ_LUA });
  const readStateScript = defineScript(redis, { name: "chatReadState", lua: READ_STATE_LUA });
  const changeScript = defineScript(redis, { name: "chatChange", lua: CHANGE_LUA });
  const summaryScript = defineScript(redis, { name: "chatSummary", lua: SUMMARY_LUA });
  const logKeys = (roomId: string) => [
    roomKey(keyPrefix, roomId, "messages"),
    roomKey(keyPrefix, roomId, "meta"),
    roomKey(keyPrefix, roomId, "reads"),
  ];
  const foldKeys = (roomId: string) => [...logKeys(roomId), roomKey(keyPrefix, roomId, "state")];

  const read = async (
    roomId: string,
    mode: "head" | "latest" | "from" | "range" | "fence" | "at",
    a: number,
    b: number,
    limit: number,
  ): Promise<{ head: RoomHead; entries: Message[] }> => {
    const [epoch, seq, entries, states] = (await readScript(foldKeys(roomId), [
      mode,
      a,
      b,
      limit,
      candidateEpoch(),
      options.retentionMs,
    ])) as ReadReply;
    return {
      head: { epoch, seq: Number(seq) },
      entries: entries.map((e, i) => folded(entryToMessage(roomId, epoch, e), parseState(states[i]))),
    };
  };

  /** ARGV[1..8] of the append and the change scripts, in the order both read them (message-store.lua.ts). */
  const logArgs = (roomId: string, senderId: string, body: string) => [
    senderId,
    body,
    options.historyLimit,
    options.retentionMs,
    options.idempotencyTtlSec,
    candidateEpoch(),
    options.publishCommand(),
    roomChannel(keyPrefix, roomId),
  ];

  return {
    async append(input, limit): Promise<AppendResult> {
      // The sender's limit rides in the append script where Redis allows it (rate-limit-script.ts).
      const scriptLimit = await limitForScript(limit);
      const outbox = options.outbox;
      const [stream, meta, reads] = logKeys(input.roomId);
      // Without an outbox key of its own, the script gets one of the room's slot, never written.
      const outboxKey = outbox?.script?.key(meta as string) ?? (meta as string);
      const keys = [stream, meta, reads, outboxKey, ...scriptLimit.keys] as string[];
      if (input.clientMsgId !== undefined) {
        keys.push(roomKey(keyPrefix, input.roomId, `idem:${input.senderId}|${input.clientMsgId}`));
      }
      const reply = await appendScript(keys, [
        ...logArgs(input.roomId, input.senderId, JSON.stringify(bodyOf(input))),
        outbox?.script?.spec ?? "",
        input.roomId,
        ...scriptLimit.args,
      ]);
      scriptLimit.check(reply);
      const [stored, payload] = reply as AppendReply;
      const written = outbox?.script?.written;
      if (stored === 1 && written) {
        // Redis Cluster: the entry is in the room's own slot, listed for the forwarder (docs/storage.md).
        await written(outboxKey, "chat.message.created");
      }
      return { message: messageFromPayload(input.roomId, payload), duplicate: stored === 0 };
    },

    async stored(roomId, senderId, clientMsgId) {
      const payload = await redis.get(roomKey(keyPrefix, roomId, `idem:${senderId}|${clientMsgId}`));
      return payload === null ? undefined : messageFromPayload(roomId, payload);
    },

    async change(input): Promise<ChangeResult> {
      const target = input.target;
      const dash = target.indexOf("-");
      const keys = foldKeys(input.roomId);
      if (input.clientMsgId !== undefined) {
        keys.push(
          roomKey(keyPrefix, input.roomId, `idem:${input.kind}:${input.senderId}|${input.clientMsgId}`),
        );
      }
      const [status, payload, entry, state, epoch] = (await changeScript(keys, [
        ...logArgs(input.roomId, input.senderId, JSON.stringify(bodyOf(input))),
        input.kind,
        target.slice(dash + 1),
        target.slice(0, dash),
        input.kind === "reaction" ? (input.emoji ?? "") : input.text,
        input.on ? 1 : 0,
        input.createdAt,
        MAX_REACTION_KINDS,
      ])) as ChangeReply;
      const refusal = CHANGE_REFUSALS[status];
      if (refusal) throw new AppError(refusal.code, refusal.message);
      const appended = payload ? messageFromPayload(input.roomId, payload) : null;
      const message = folded(
        entryToMessage(input.roomId, epoch as string, entry as StreamEntry),
        parseState(state),
      );
      return { entry: appended, message, duplicate: status === 2 };
    },

    async lookup(roomId, messageId): Promise<TargetLookup> {
      const dash = messageId.indexOf("-");
      const seq = Number(messageId.slice(dash + 1));
      if (!Number.isSafeInteger(seq)) return { status: "missing" };
      const { head, entries } = await read(roomId, "at", seq, 0, 0);
      const found = entries[0];
      if (found && found.id === messageId && found.kind === undefined)
        return { status: "found", message: found };
      if (!found && seq > 0 && seq <= head.seq) return { status: "expired" };
      return { status: "missing" };
    },

    async summary(roomId): Promise<RoomSummary | undefined> {
      const reply = (await summaryScript(foldKeys(roomId), [SUMMARY_SCAN])) as
        | [string, string, string | null, [StreamEntry] | null | false, (string | null | false)[] | false]
        | null;
      if (!reply) return undefined;
      const [epoch, seq, ms, found, states] = reply;
      const entry = found ? found[0] : undefined;
      return {
        epoch,
        seq: Number(seq),
        lastActivityAt: Number(ms ?? 0),
        ...(entry
          ? {
              lastMessage: folded(
                entryToMessage(roomId, epoch, entry),
                parseState(states ? states[0] : null),
              ),
            }
          : {}),
      };
    },

    async head(roomId) {
      return (await read(roomId, "head", 0, 0, 0)).head;
    },

    async latest(roomId, limit): Promise<LogPage> {
      const { head, entries } = await read(roomId, "latest", 0, 0, limit);
      const hasMore = entries.length > limit;
      return { ...head, messages: entries.slice(0, limit).reverse(), hasMore };
    },

    async after(roomId, cursor: LogCursor, limit): Promise<RecoveryPage> {
      const { head, entries } = await read(roomId, "from", cursor.seq, 0, limit);
      const anchor = entries[0]?.seq === cursor.seq ? entries[0] : undefined;
      const newer = anchor ? entries.slice(1) : entries;
      const found =
        cursor.ms === undefined
          ? cursor.seq <= head.seq && (cursor.seq === head.seq || newer[0]?.seq === cursor.seq + 1)
          : anchor !== undefined && anchor.id === `${cursor.ms}-${cursor.seq}`;
      if (!found) return { ...head, messages: [], hasMore: false, found };
      return { ...head, messages: newer.slice(0, limit), hasMore: newer.length > limit, found };
    },

    async history(roomId, { beforeSeq, afterSeq, limit }): Promise<LogPage> {
      // Exclusive bounds cannot go below the first seq: such pages are empty.
      const empty = beforeSeq !== undefined && beforeSeq <= (afterSeq ?? 0) + 1;
      const { head, entries } = await read(
        roomId,
        empty ? "head" : "range",
        beforeSeq ?? -1,
        afterSeq ?? -1,
        limit,
      );
      const hasMore = entries.length > limit;
      const page = entries.slice(0, limit);
      return { ...head, messages: afterSeq === undefined ? page.reverse() : page, hasMore };
    },

    async fence(roomId, seq) {
      await read(roomId, "fence", seq, 0, 0);
    },

    async markRead(roomId, userId, messageId): Promise<MarkReadResult | undefined> {
      const result = (await markReadScript(logKeys(roomId), [userId, messageId, options.retentionMs])) as
        | [string, number]
        | null;
      if (!result) return undefined;
      return { lastReadId: result[0], moved: result[1] === 1 };
    },

    async readState(roomId, userId): Promise<ReadState> {
      const [lastReadId, unread, mentions] = (await readStateScript(logKeys(roomId), [
        userId,
        options.unreadCap,
      ])) as [string | null, number, number];
      return { lastReadId, unread, mentions };
    },
  };
}
