import { sha256 } from "../infra/digest.js";

/** What rate-limit counters are keyed by: the key itself must never reach Redis or a log. */
export function apiKeyId(key: string): string {
  return sha256(`rate-limit:${key}`).toString("hex").slice(0, 32);
}
