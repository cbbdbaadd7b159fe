export { compareMessageIds } from "./protocol.js";

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
