/**
 * Token lifetime arithmetic. Tokens are opaque to the SDK except for `exp` and `sub`,
 * read (not verified: the server does that) to schedule the refresh.
 */

export interface TokenClaims {
  sub?: string;
  /** Epoch seconds. */
  exp?: number;
}

/** The JWT's payload claims the SDK uses, or {} for a token it cannot read. */
export function readTokenClaims(token: string): TokenClaims {
  const part = token.split(".")[1];
  if (!part) return {};
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const json = new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)));
    const payload = JSON.parse(json) as Record<string, unknown>;
    const claims: TokenClaims = {};
    if (typeof payload.sub === "string") claims.sub = payload.sub;
    if (typeof payload.exp === "number" && Number.isFinite(payload.exp)) claims.exp = payload.exp;
    return claims;
  } catch {
    return {};
  }
}

// setTimeout fires at once past 2^31-1 ms (about 24.8 days).
export const MAX_TIMER_MS = 2_147_483_647;

export interface RefreshTiming {
  /** The token's `exp`, epoch seconds. */
  exp: number;
  /** When the SDK got the token, epoch ms. */
  obtainedAt: number;
  now: number;
  /** Refresh this long before expiry... */
  marginMs: number;
  /** ...but never before half of the token's lifetime has passed, nor sooner than this. */
  minDelayMs: number;
}

/**
 * How long to wait before fetching a new token: `marginMs` before expiry, or at half the
 * lifetime for short-lived tokens (a 5-minute token is not refreshed every few seconds,
 * and a token shorter than the margin is still refreshed before it expires).
 */
export function refreshDelayMs(t: RefreshTiming): number {
  const expiresAt = t.exp * 1000;
  const lifetime = Math.max(0, expiresAt - t.obtainedAt);
  const margin = Math.min(t.marginMs, lifetime / 2);
  const delay = expiresAt - margin - t.now;
  return Math.min(MAX_TIMER_MS, Math.max(t.minDelayMs, Math.round(delay)));
}

/** Exponential backoff with full jitter in its upper half: `attempt` 1 waits about `minMs`. */
export function backoffDelayMs(
  attempt: number,
  options: { minMs: number; maxMs: number; random?: () => number },
): number {
  const random = options.random ?? Math.random;
  const base = Math.min(options.maxMs, options.minMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}
