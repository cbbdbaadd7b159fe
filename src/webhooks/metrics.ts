import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../infra/config/sections.js";
import type { DeliveryOutcome } from "./delivery.js";
import type { OutboxLag } from "./outbox.js";

/**
 * The webhook series, in the service's registry (src/infra/metrics.ts):
 * - rt_webhook_deliveries_total{event, outcome}: attempts; outcome delivered, failed (retried) or dead;
 * - rt_webhook_delivery_duration_seconds{event}: one attempt's request, answered or not;
 * - rt_webhook_outbox_undelivered / rt_webhook_outbox_oldest_age_seconds: the outbox lag, read
 *   from Redis at scrape time (every instance reports the same shared outbox).
 */
export function createWebhookMetrics(registry: Registry, lag: (now: number) => Promise<OutboxLag>) {
  const deliveries = new Counter({
    name: "rt_webhook_deliveries_total",
    help: "Webhook delivery attempts by event and outcome (delivered, failed: will be retried, dead: dead-lettered)",
    labelNames: ["event", "outcome"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "rt_webhook_delivery_duration_seconds",
    help: "Time of one webhook delivery attempt, by event",
    labelNames: ["event"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  let last: Promise<OutboxLag> | undefined;
  // Both gauges are read in one scrape: one Redis read serves them.
  const readLag = () => {
    last ??= lag(Date.now()).finally(() => setTimeout(() => (last = undefined), 0).unref());
    return last;
  };
  new Gauge({
    name: "rt_webhook_outbox_undelivered",
    help: "Webhook events written and not yet delivered (the whole outbox, shared by all instances)",
    registers: [registry],
    async collect() {
      this.set((await readLag().catch(() => ({ undelivered: Number.NaN }))).undelivered);
    },
  });
  new Gauge({
    name: "rt_webhook_outbox_oldest_age_seconds",
    help: "Age of the oldest undelivered webhook event; 0 when none",
    registers: [registry],
    async collect() {
      this.set((await readLag().catch(() => ({ oldestAgeMs: Number.NaN }))).oldestAgeMs / 1000);
    },
  });
  for (const event of WEBHOOK_EVENT_TYPES) {
    for (const outcome of ["delivered", "failed", "dead"] as const) deliveries.inc({ event, outcome }, 0);
  }
  return (type: WebhookEventType, outcome: DeliveryOutcome, seconds: number) => {
    deliveries.inc({ event: type, outcome });
    duration.observe({ event: type }, seconds);
  };
}
