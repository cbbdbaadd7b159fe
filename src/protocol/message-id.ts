/**
 * Message ids are Redis Stream ids, `<ms>-<seq>` in decimal without leading zeros. They
 * can exceed 2^53, so they are compared as digit strings: a longer number is larger.
 * Shared by the server and the client SDK (ids must be canonical: no leading zeros).
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
