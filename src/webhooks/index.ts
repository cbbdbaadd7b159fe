import type { Registry } from "prom-client";
import type { Settings } from "../infra/config/sections.js";
import type { Feature } from "../infra/feature.js";
import type { Logger } from "../infra/logger.js";
import { createDeliveryWorker } from "./delivery.js";
import { createWebhookMetrics } from "./metrics.js";
import type { DeadLetter, Outbox } from "./outbox.js";
import { createWebhookSender } from "./sender.js";

export type { DeadLetter, Outbox, OutboxWriter } from "./outbox.js";

export type WebhookOptions = Extract<Settings["webhooks"], { enabled: true }>;

/** What the internal API offers about webhooks. */
export interface DeadLetters {
  list(limit: number, after?: string): Promise<DeadLetter[]>;
  /** False when there is no such dead letter. */
  redeliver(id: string): Promise<boolean>;
}

export function createDeadLetters(outbox: Outbox): DeadLetters {
  return { list: (limit, after) => outbox.listDead(limit, after), redeliver: (id) => outbox.redeliver(id) };
}

/** Delivers the outbox while the instance runs: every instance is a consumer of the one group. */
export function createWebhooksFeature(
  options: WebhookOptions,
  deps: { outbox: Outbox; consumer: string; registry: Registry; logger: Logger },
): Feature {
  const observe = createWebhookMetrics(deps.registry, (now) => deps.outbox.lag(now));
  const worker = createDeliveryWorker(options, {
    outbox: deps.outbox,
    consumer: deps.consumer,
    logger: deps.logger,
    send: createWebhookSender(options),
    observe,
  });
  return {
    name: "webhooks",
    async start() {
      worker.start();
    },
    stop: () => worker.stop(),
  };
}
