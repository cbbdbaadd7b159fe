import type { WebhookEventType } from "../infra/config/sections.js";
import type { RedisClient } from "../infra/redis.js";
import { defineScript } from "../infra/redis-script.js";
import {
  type DeadLetter,
  type Outbox,
  type OutboxEntry,
  type OutboxWriter,
  outboxSpec,
  webhookIdOf,
} from "./outbox.js";
import { ACK_LUA, DEAD_LETTER_LUA, REDELIVER_LUA } from "./outbox.lua.js";

/**
 * Keys (P = REDIS_KEY_PREFIX), sharing the hash tag `{webhooks}`:
 * - P {webhooks}:outbox  STREAM  events not yet delivered; consumer group `webhooks`
 * - P {webhooks}:dead    STREAM  dead letters, MAXLEN ~ WEBHOOK_DEAD_LETTER_MAX
 */
export function outboxKeys(prefix: string) {
  return { outbox: `${prefix}{webhooks}:outbox`, dead: `${prefix}{webhooks}:dead` };
}

export const OUTBOX_GROUP = "webhooks";

const RELEASED_IDLE_MS = 365 * 86_400_000;

type StreamEntry = [id: string, fields: string[]];

const msOfId = (id: string): number => Number(id.slice(0, id.indexOf("-")));

function fieldsOf(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i] as string] = fields[i + 1] as string;
  return out;
}

function entryOf([id, fields]: StreamEntry): OutboxEntry {
  const f = fieldsOf(fields);
  return {
    id,
    webhookId: f.w ?? webhookIdOf(id),
    type: f.t as WebhookEventType,
    data: f.d ?? "{}",
    createdAt: f.c === undefined ? msOfId(id) : Number(f.c),
  };
}

function deadLetterOf([id, fields]: StreamEntry): DeadLetter {
  const f = fieldsOf(fields);
  return {
    id,
    webhookId: f.w ?? "",
    type: f.t as WebhookEventType,
    data: f.d ?? "{}",
    createdAt: Number(f.c ?? 0),
    deadAt: msOfId(id),
    attempts: Number(f.a ?? 0),
    lastError: f.e ?? "",
  };
}

export interface RedisOutboxOptions {
  redis: RedisClient;
  keyPrefix: string;
  deadLetterMax: number;
}

export function createRedisOutbox(options: RedisOutboxOptions): Outbox {
  const { redis } = options;
  const keys = outboxKeys(options.keyPrefix);
  const deadLetterScript = defineScript(redis, { name: "webhookDeadLetter", lua: DEAD_LETTER_LUA, keys: 2 });
  const redeliverScript = defineScript(redis, { name: "webhookRedeliver", lua: REDELIVER_LUA, keys: 2 });
  const ackScript = defineScript(redis, { name: "webhookAck", lua: ACK_LUA, keys: 1 });
  let claimCursor = "0-0";

  const createGroup = async () => {
    try {
      // From 0: entries written before any instance created the group are delivered too.
      await redis.xgroup("CREATE", keys.outbox, OUTBOX_GROUP, "0", "MKSTREAM");
    } catch (err) {
      if (!String((err as Error).message).includes("BUSYGROUP")) throw err;
    }
  };
  /** A Redis that lost its data lost the group too: it is made again and the call repeated. */
  const withGroup = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (!String((err as Error).message).includes("NOGROUP")) throw err;
      await createGroup();
      return run();
    }
  };

  return {
    async readNew(consumer, count) {
      const reply = (await withGroup(() =>
        redis.xreadgroup("GROUP", OUTBOX_GROUP, consumer, "COUNT", count, "STREAMS", keys.outbox, ">"),
      )) as [string, StreamEntry[]][] | null;
      return (reply?.[0]?.[1] ?? []).map(entryOf);
    },

    async claimStale(consumer, minIdleMs, count) {
      // XAUTOCLAIM looks at a bounded part of the pending list per call (10 × COUNT): the
      // cursor carries on from there, so stale entries behind many live ones are found too.
      const reply = (await withGroup(() =>
        redis.xautoclaim(keys.outbox, OUTBOX_GROUP, consumer, minIdleMs, claimCursor, "COUNT", count),
      )) as [string, (StreamEntry | null)[], string[]?];
      claimCursor = reply[0];
      // Entries deleted meanwhile come back as null (Redis 6.2) or in the third element (7+).
      return reply[1].filter((e): e is StreamEntry => Array.isArray(e) && e[1] !== null).map(entryOf);
    },

    async keep(consumer, ids) {
      if (ids.length === 0) return;
      await withGroup(() => redis.call("XCLAIM", keys.outbox, OUTBOX_GROUP, consumer, 0, ...ids, "JUSTID"));
    },

    async release(consumer, ids) {
      if (ids.length === 0) return;
      // Still this consumer's, but idle for a year: the next XAUTOCLAIM of any instance takes them.
      await withGroup(() =>
        redis.call(
          "XCLAIM",
          keys.outbox,
          OUTBOX_GROUP,
          consumer,
          0,
          ...ids,
          "IDLE",
          RELEASED_IDLE_MS,
          "JUSTID",
        ),
      );
    },

    async ack(ids) {
      if (ids.length === 0) return;
      await ackScript([keys.outbox], [OUTBOX_GROUP, ...ids]);
    },

    async deadLetter(entry, attempts, lastError, _now) {
      await deadLetterScript(
        [keys.outbox, keys.dead],
        [
          OUTBOX_GROUP,
          entry.id,
          entry.webhookId,
          entry.type,
          entry.data,
          entry.createdAt,
          attempts,
          lastError.slice(0, 500),
          options.deadLetterMax,
        ],
      );
    },

    async listDead(limit, after) {
      const start = after === undefined ? "-" : `(${after}`;
      const entries = (await redis.xrange(keys.dead, start, "+", "COUNT", limit)) as StreamEntry[];
      return entries.map(deadLetterOf);
    },

    async redeliver(deadId) {
      const id = await redeliverScript([keys.outbox, keys.dead], [deadId]);
      return typeof id === "string";
    },

    async trim() {
      // Everything below both the oldest pending entry and the group's last delivered one
      // has been acknowledged: MINID there never drops an undelivered entry.
      const groups = (await redis.xinfo("GROUPS", keys.outbox).catch(() => [])) as unknown[][];
      const group = groups.map((g) => fieldsOf(g as string[])).find((g) => g.name === OUTBOX_GROUP);
      if (!group?.["last-delivered-id"]) return;
      const [, oldestPending] = (await redis.xpending(keys.outbox, OUTBOX_GROUP)) as [number, string | null];
      const delivered = group["last-delivered-id"];
      const bound = oldestPending ?? nextId(delivered);
      await redis.xtrim(keys.outbox, "MINID", "~", bound);
    },

    async lag(now) {
      // Delivered and dead-lettered entries are deleted at once: what the stream holds is
      // exactly what is undelivered (XINFO's `lag` is unknown once entries were deleted).
      const [length, first] = await Promise.all([
        redis.xlen(keys.outbox),
        redis.xrange(keys.outbox, "-", "+", "COUNT", 1) as Promise<StreamEntry[]>,
      ]);
      const oldest = first[0] ? msOfId(first[0][0]) : undefined;
      return { undelivered: length, oldestAgeMs: oldest === undefined ? 0 : Math.max(0, now - oldest) };
    },
  };
}

function nextId(id: string): string {
  const [ms, seq] = id.split("-");
  return `${ms}-${Number(seq ?? 0) + 1}`;
}

export interface RedisOutboxWriterOptions {
  redis: RedisClient;
  keyPrefix: string;
  events: readonly WebhookEventType[];
}

/**
 * Standalone and Sentinel: the stores' scripts add the entry themselves. A Cluster
 * refuses a script whose keys span slots, so there the entry is added by a second
 * command right after the change (docs/storage.md states the window this leaves).
 */
export function createRedisOutboxWriter(options: RedisOutboxWriterOptions): OutboxWriter {
  const { redis, events } = options;
  const key = outboxKeys(options.keyPrefix).outbox;
  const wanted = new Set(events);
  return {
    wants: (type) => wanted.has(type),
    ...(redis.isCluster ? {} : { script: { key, spec: outboxSpec(events) } }),
    async append(type, data) {
      if (!wanted.has(type)) return;
      await redis.xadd(key, "*", "t", type, "d", data);
    },
  };
}
