/**
 * Message ids are Redis Stream ids, `<ms>-<seq>` in decimal without leading zeros. They
 * can exceed 2^53, so they are compared as digit strings: a longer number is larger.
 */
export function compareMessageIds(a: string, b: string): number {
  const [aMs = "", aSeq = ""] = a.split("-");
  const [bMs = "", bSeq = ""] = b.split("-");
  return compareDigits(aMs, bMs) || compareDigits(aSeq, bSeq);
}

function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/**
 * A `clientMsgId` for `chat:send`: 22 random characters (132 bits), unique across devices,
 * tabs and page reloads within the server's 24 h idempotency window. getRandomValues works
 * in Node and in every browser, secure context or not (randomUUID needs HTTPS).
 */
export function createClientMsgId(): string {
  const bytes = new Uint8Array(22);
  globalThis.crypto.getRandomValues(bytes);
  let id = "";
  for (const byte of bytes) id += ALPHABET[byte & 63];
  return id;
}
