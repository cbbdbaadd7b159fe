import type { WebhookEventType } from "../infra/config/sections.js";
import type { Logger } from "../infra/logger.js";
import { renderPayload } from "./events.js";
import type { Outbox, OutboxEntry } from "./outbox.js";
import type { SendResult, WebhookSend } from "./sender.js";

export interface DeliveryOptions {
  retryWindowMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** An entry untouched this long belongs to a dead instance: another one claims it. */
  claimIdleMs: number;
  pollMs: number;
  /** Entries one instance holds at once. */
  concurrency: number;
}

export type DeliveryOutcome = "delivered" | "failed" | "dead";

export interface DeliveryDeps {
  outbox: Outbox;
  send: WebhookSend;
  /** This instance's name in the consumer group. */
  consumer: string;
  logger: Logger;
  clock?: () => number;
  random?: () => number;
  /** Told of every attempt: `failed` will be retried, `dead` went to the dead letters. */
  observe?(type: WebhookEventType, outcome: DeliveryOutcome, seconds: number): void;
}

interface Held {
  entry: OutboxEntry;
  attempts: number;
  nextAt: number;
  inFlight: boolean;
}

/**
 * Exponential backoff with full jitter over the upper half: attempt n waits between half
 * and all of min(max, base * 2^(n-1)), so instances that failed together spread out.
 */
export function backoffMs(attempt: number, options: DeliveryOptions, random: () => number): number {
  const ceiling = Math.min(options.retryMaxMs, options.retryBaseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * One instance's share of the delivery: takes new entries (XREADGROUP) and stale ones of
 * dead instances (XAUTOCLAIM), posts each until it is answered 2xx (then removed) or its
 * retry window is over (then a dead letter). Entries it is retrying are re-claimed by it
 * every third of the claim time, so only a silent instance's entries go to others.
 */
export function createDeliveryWorker(options: DeliveryOptions, deps: DeliveryDeps) {
  const { outbox, consumer } = deps;
  const clock = deps.clock ?? Date.now;
  const random = deps.random ?? Math.random;
  const log = deps.logger.child({ module: "webhooks" });
  const held = new Map<string, Held>();
  let polling = false;
  let stopped = true;
  let lastTrim = 0;
  const timers: NodeJS.Timeout[] = [];

  const attempt = async (h: Held) => {
    h.inFlight = true;
    h.attempts += 1;
    const started = clock();
    let result: SendResult;
    try {
      result = await deps.send({
        webhookId: h.entry.webhookId,
        body: renderPayload(h.entry.type, h.entry.data, h.entry.createdAt),
      });
    } catch (err) {
      result = { ok: false, error: (err as Error).message };
    }
    const seconds = (clock() - started) / 1000;
    try {
      if (result.ok) {
        await outbox.ack([h.entry.id]);
        held.delete(h.entry.id);
        deps.observe?.(h.entry.type, "delivered", seconds);
        return;
      }
      const now = clock();
      if (now - h.entry.createdAt >= options.retryWindowMs) {
        await outbox.deadLetter(h.entry, h.attempts, result.error, now);
        held.delete(h.entry.id);
        deps.observe?.(h.entry.type, "dead", seconds);
        log.warn(
          { webhookId: h.entry.webhookId, type: h.entry.type, attempts: h.attempts, error: result.error },
          "webhook dead-lettered after its retry window",
        );
        return;
      }
      h.nextAt = now + backoffMs(h.attempts, options, random);
      deps.observe?.(h.entry.type, "failed", seconds);
      log.debug({ webhookId: h.entry.webhookId, error: result.error, attempts: h.attempts }, "webhook retry");
    } catch (err) {
      // Redis failed to record the outcome: the entry stays pending and is tried again.
      h.nextAt = clock() + options.retryBaseMs;
      log.warn({ err, webhookId: h.entry.webhookId }, "webhook outcome not recorded");
    } finally {
      h.inFlight = false;
    }
  };

  const take = (entries: OutboxEntry[], now: number) => {
    for (const entry of entries) {
      if (!held.has(entry.id)) held.set(entry.id, { entry, attempts: 0, nextAt: now, inFlight: false });
    }
  };

  const poll = async () => {
    if (polling || stopped) return;
    polling = true;
    try {
      const now = clock();
      let free = options.concurrency - held.size;
      if (free > 0) take(await outbox.claimStale(consumer, options.claimIdleMs, free), now);
      free = options.concurrency - held.size;
      if (free > 0) take(await outbox.readNew(consumer, free), now);
      for (const h of held.values()) {
        if (!h.inFlight && h.nextAt <= now && !stopped) void attempt(h);
      }
      if (now - lastTrim >= options.claimIdleMs) {
        lastTrim = now;
        await outbox.trim();
      }
    } catch (err) {
      log.warn({ err }, "webhook outbox poll failed");
    } finally {
      polling = false;
    }
  };

  const keepHeld = async () => {
    if (stopped || held.size === 0) return;
    try {
      await outbox.keep(consumer, [...held.keys()]);
    } catch (err) {
      log.warn({ err }, "webhook entries not re-claimed");
    }
  };

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      timers.push(setInterval(() => void poll(), options.pollMs));
      timers.push(setInterval(() => void keepHeld(), Math.max(50, Math.floor(options.claimIdleMs / 3))));
      for (const t of timers) t.unref();
    },
    /**
     * Stops taking and trying entries. Those waiting for a retry are released to the other
     * instances at once; one whose request is under way stays held (its answer may still
     * come) and is claimed by another after the claim time if it was not delivered.
     */
    async stop() {
      stopped = true;
      for (const t of timers.splice(0)) clearInterval(t);
      const waiting = [...held.values()].filter((h) => !h.inFlight).map((h) => h.entry.id);
      for (const id of waiting) held.delete(id);
      await outbox.release(consumer, waiting).catch((err: unknown) => {
        log.warn({ err, entries: waiting.length }, "webhook entries not released; others claim them later");
      });
    },
    /** Held entries (tests, metrics). */
    held: () => held.size,
  };
}
