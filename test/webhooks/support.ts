import type { WebhookReceiver } from "../helpers/webhook-receiver.js";
import { GRACE, presenceEnv } from "../presence/support.js";

export { GRACE };
export const CLAIM_IDLE = 1000;

/** An instance that delivers webhooks to `receiver`, with bounds small enough for a test. */
export function webhookEnv(
  redisUrl: string,
  keyPrefix: string,
  receiver: WebhookReceiver,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ...presenceEnv(redisUrl, keyPrefix),
    INTERNAL_API_KEY: "webhook-test-key-0123456789",
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: receiver.secret,
    WEBHOOK_TIMEOUT_MS: "3000",
    WEBHOOK_RETRY_BASE_MS: "50",
    WEBHOOK_RETRY_MAX_MS: "300",
    WEBHOOK_CLAIM_IDLE_MS: String(CLAIM_IDLE),
    WEBHOOK_POLL_MS: "50",
    RATE_CHAT_SEND_PER_SEC: "1000",
    RATE_CHAT_SEND_BURST: "1000",
    ...extra,
  };
}
