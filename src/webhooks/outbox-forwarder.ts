import { createHash, randomBytes } from "node:crypto";
import type { Cluster } from "ioredis";
import { defineScript } from "../infra/redis-script.js";
import { FORWARDED_LUA, UNLOCK_LUA } from "./outbox.lua.js";

/**
 * Redis Cluster only. A store's script cannot write the central outbox (another slot), so
 * it writes its entry into a stream of its own hash tag, `P {<tag>}:webhooks`, in its own
 * step; its writer then lists that key in `P {webhooks}:pending`. The forwarder moves the
 * listed streams' entries to the central outbox; the recovery scan lists the streams whose
 * writer died before listing them.
 */
export function taggedKeys(prefix: string) {
  return {
    /** The per-tag stream sharing `slotKey`'s hash tag (the script's own slot). */
    of(slotKey: string): string {
      const open = slotKey.indexOf("{");
      const close = open < 0 ? -1 : slotKey.indexOf("}", open + 1);
      if (close <= open + 1) throw new Error(`no hash tag in ${slotKey}`);
      return `${prefix}{${slotKey.slice(open + 1, close)}}:webhooks`;
    },
    pending: `${prefix}{webhooks}:pending`,
    /** SCAN MATCH pattern of every per-tag stream (the prefix's glob characters escaped). */
    pattern: `${prefix.replace(/[*?[\]\\]/g, "\\$&")}{*}:webhooks`,
  };
}

/** Entries moved per per-tag stream and round: bounds one step's work. */
const BATCH = 100;
/** Per-tag streams taken from the index per forwarding round. */
const KEYS_PER_ROUND = 50;
/** A forwarder that stalls longer than this may see another move the same entries (same webhook ids). */
const LOCK_MS = 30_000;

type StreamEntry = [id: string, fields: string[]];

/**
 * The webhook id of a forwarded entry, from its origin (per-tag key and entry id): the
 * same for every copy, so a forward repeated after a crash only duplicates a delivery
 * that the receiver deduplicates.
 */
export const forwardedWebhookId = (key: string, id: string): string =>
  `evt_${createHash("sha256").update(`${key}\n${id}`).digest("base64url").slice(0, 24)}`;

export interface ForwarderOptions {
  redis: Cluster;
  keyPrefix: string;
  /** The central outbox stream. */
  outbox: string;
}

export function createOutboxForwarder(options: ForwarderOptions) {
  const { redis } = options;
  const keys = taggedKeys(options.keyPrefix);
  const forwardedScript = defineScript(redis, { name: "webhookForwarded", lua: FORWARDED_LUA, keys: 1 });
  const unlockScript = defineScript(redis, { name: "webhookForwardUnlock", lua: UNLOCK_LUA, keys: 1 });
  const token = randomBytes(8).toString("hex");
  /** In the stream's own slot; not matched by the scan (it does not end in `:webhooks`). */
  const lockOf = (key: string) => `${key}:forwarding`;

  /** The per-tag stream's first entries, copied to the central outbox (not yet removed). */
  const copy = async (key: string): Promise<string[]> => {
    const entries = (await redis.xrange(key, "-", "+", "COUNT", BATCH)) as StreamEntry[];
    // Sent together on the outbox node's one connection: they arrive in the stream's order.
    await Promise.all(
      entries.map(([id, fields]) =>
        redis.xadd(
          options.outbox,
          "*",
          ...fields,
          "w",
          forwardedWebhookId(key, id),
          "c",
          id.slice(0, id.indexOf("-")),
          "o",
          `${key} ${id}`,
        ),
      ),
    );
    return entries.map(([id]) => id);
  };

  /** Moves every entry of one per-tag stream, batch by batch, oldest first. */
  const move = async (key: string): Promise<number> => {
    let moved = 0;
    for (;;) {
      const ids = await copy(key);
      if (ids.length === 0) return moved;
      await forwardedScript([key], ids);
      moved += ids.length;
      if (ids.length < BATCH) return moved;
    }
  };

  return {
    /**
     * One round: takes listed keys out of the index BEFORE reading their streams, so an
     * entry written after the read is followed by its writer's own SADD and the next
     * round sees it. A key taken by a forwarder that dies before moving it is found by
     * the recovery scan. Returns the entries moved.
     */
    async forward(): Promise<number> {
      const taken = (await redis.spop(keys.pending, KEYS_PER_ROUND)) as string[];
      let moved = 0;
      let failure: unknown;
      for (const key of taken) {
        try {
          // One forwarder per stream at a time: two would copy the same entries twice. The
          // one that finds it locked lists it again, for after the holder is done.
          if ((await redis.set(lockOf(key), token, "PX", LOCK_MS, "NX")) === null) {
            await redis.sadd(keys.pending, key);
            continue;
          }
          try {
            moved += await move(key);
          } finally {
            await unlockScript([lockOf(key)], [token]);
          }
        } catch (err) {
          // A node that fails holds up only its own streams. The key is listed again for the
          // next round (or found by the scan); what was copied is copied again, same webhook id.
          failure ??= err;
          await redis.sadd(keys.pending, key).catch(() => {});
        }
      }
      if (failure !== undefined) throw failure;
      return moved;
    },
    /** Lists every non-empty per-tag stream of every master. */
    async recover(): Promise<number> {
      let listed = 0;
      for (const node of redis.nodes("master")) {
        let cursor = "0";
        do {
          const [next, found] = (await node.scan(
            cursor,
            "MATCH",
            keys.pattern,
            "COUNT",
            500,
            "TYPE",
            "stream",
          )) as [string, string[]];
          cursor = next;
          if (found.length > 0) {
            await redis.sadd(keys.pending, ...found);
            listed += found.length;
          }
        } while (cursor !== "0");
      }
      return listed;
    },
    /** A forward's first half alone: copies without removing (what a crash between the two leaves; tests). */
    copy,
  };
}
