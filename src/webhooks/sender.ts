import { Webhook } from "standardwebhooks";

export interface WebhookRequest {
  webhookId: string;
  body: string;
}

export type SendResult = { ok: true; status: number } | { ok: false; status?: number; error: string };

export type WebhookSend = (request: WebhookRequest) => Promise<SendResult>;

/**
 * Posts one delivery, signed as Standard Webhooks specifies (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature`, by the `standardwebhooks` package). The
 * timestamp is the attempt's: receivers refuse signatures older than a few minutes, and
 * a retry may come hours after the event (whose time is in the body).
 */
export function createWebhookSender(options: {
  url: string;
  secret: string;
  timeoutMs: number;
  clock?: () => number;
}): WebhookSend {
  const signer = new Webhook(options.secret);
  const clock = options.clock ?? Date.now;
  return async ({ webhookId, body }) => {
    const at = new Date(clock());
    try {
      const res = await fetch(options.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": webhookId,
          "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
          "webhook-signature": signer.sign(webhookId, at, body),
        },
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      // The answer's body is not read for anything: drained so the connection is reused.
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
      return { ok: false, status: res.status, error: `HTTP ${res.status}` };
    } catch (err) {
      const e = err as Error;
      return { ok: false, error: e.name === "TimeoutError" ? "timeout" : e.message };
    }
  };
}
