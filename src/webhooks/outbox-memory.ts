import type { WebhookEventType } from "../infra/config/sections.js";
import type { DeadLetter, Outbox, OutboxEntry, OutboxWriter } from "./outbox.js";
import { webhookIdOf } from "./outbox.js";

interface Held {
  consumer: string;
  since: number;
}

/**
 * The outbox of a single instance without Redis: same contract, kept in memory, so it is
 * NOT durable (a restart loses what was not delivered yet, dead letters included).
 */
export function createMemoryOutbox(options: {
  deadLetterMax: number;
  clock?: () => number;
}): Outbox & { writer(events: readonly WebhookEventType[]): OutboxWriter } {
  const clock = options.clock ?? Date.now;
  const entries = new Map<string, OutboxEntry>();
  const held = new Map<string, Held>();
  const dead: DeadLetter[] = [];
  let lastMs = 0;
  let seq = 0;
  const nextId = () => {
    const now = clock();
    if (now > lastMs) {
      lastMs = now;
      seq = 0;
    } else seq += 1;
    return `${lastMs}-${seq}`;
  };
  const add = (type: WebhookEventType, data: string, webhookId?: string, createdAt?: number) => {
    const id = nextId();
    entries.set(id, {
      id,
      webhookId: webhookId ?? webhookIdOf(id),
      type,
      data,
      createdAt: createdAt ?? lastMs,
    });
  };

  const outbox = {
    async readNew(consumer: string, count: number) {
      const taken: OutboxEntry[] = [];
      for (const entry of entries.values()) {
        if (taken.length >= count) break;
        if (held.has(entry.id)) continue;
        held.set(entry.id, { consumer, since: clock() });
        taken.push(entry);
      }
      return taken;
    },
    async claimStale(consumer: string, minIdleMs: number, count: number) {
      const taken: OutboxEntry[] = [];
      const now = clock();
      for (const [id, h] of held) {
        if (taken.length >= count) break;
        const entry = entries.get(id);
        if (!entry || now - h.since < minIdleMs) continue;
        held.set(id, { consumer, since: now });
        taken.push(entry);
      }
      return taken;
    },
    async keep(consumer: string, ids: readonly string[]) {
      for (const id of ids) if (entries.has(id)) held.set(id, { consumer, since: clock() });
    },
    async release(consumer: string, ids: readonly string[]) {
      for (const id of ids) if (entries.has(id)) held.set(id, { consumer, since: Number.NEGATIVE_INFINITY });
    },
    async ack(ids: readonly string[]) {
      for (const id of ids) {
        entries.delete(id);
        held.delete(id);
      }
    },
    async deadLetter(entry: OutboxEntry, attempts: number, lastError: string, now: number) {
      entries.delete(entry.id);
      held.delete(entry.id);
      dead.push({ ...entry, id: nextId(), deadAt: now, attempts, lastError: lastError.slice(0, 500) });
      if (dead.length > options.deadLetterMax) dead.splice(0, dead.length - options.deadLetterMax);
    },
    async listDead(limit: number, after?: string) {
      const start = after === undefined ? 0 : dead.findIndex((d) => compareIds(d.id, after) > 0);
      return start < 0 ? [] : dead.slice(start, start + limit);
    },
    async redeliver(deadId: string) {
      const at = dead.findIndex((d) => d.id === deadId);
      const letter = dead[at];
      if (!letter) return false;
      dead.splice(at, 1);
      add(letter.type, letter.data, letter.webhookId, letter.createdAt);
      return true;
    },
    async trim() {},
    async lag(now: number) {
      const oldest = entries.values().next().value;
      return { undelivered: entries.size, oldestAgeMs: oldest ? Math.max(0, now - oldest.createdAt) : 0 };
    },
    writer(events: readonly WebhookEventType[]): OutboxWriter {
      const wanted = new Set(events);
      return {
        wants: (type) => wanted.has(type),
        async append(type, data) {
          if (wanted.has(type)) add(type, data);
        },
      };
    },
  };
  return outbox;
}

function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split("-").map(Number);
  const [bm = 0, bs = 0] = b.split("-").map(Number);
  return am === bm ? as - bs : am - bm;
}
