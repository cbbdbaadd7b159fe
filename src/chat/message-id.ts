import { AppError } from "../protocol/index.js";

/**
 * Message ids are Redis Stream entry ids, `<ms>-<seq>`, both parts unsigned 64-bit.
 * The in-memory store mints the same shape so cursors work the same on both.
 */

const U64_MAX = (1n << 64n) - 1n;

export interface ParsedId {
  ms: bigint;
  seq: bigint;
}

export function parseMessageId(id: string): ParsedId | undefined {
  const dash = id.indexOf("-");
  if (dash <= 0) return undefined;
  try {
    const ms = BigInt(id.slice(0, dash));
    const seq = BigInt(id.slice(dash + 1));
    if (ms < 0n || seq < 0n || ms > U64_MAX || seq > U64_MAX) return undefined;
    return { ms, seq };
  } catch {
    return undefined;
  }
}

/**
 * The canonical spelling of a client-supplied id (no leading zeros), so it compares
 * equal to the id the store returns. INVALID_PAYLOAD when it cannot be a stream id.
 */
export function normalizeMessageId(id: string, field = "messageId"): string {
  const parsed = parseMessageId(id);
  if (!parsed) {
    throw new AppError("INVALID_PAYLOAD", `${field} is not a message id`, {
      fields: [{ path: field, message: "must be <ms>-<seq> within 64 bits" }],
    });
  }
  return `${parsed.ms}-${parsed.seq}`;
}

export { compareMessageIds } from "../protocol/message-id.js";
