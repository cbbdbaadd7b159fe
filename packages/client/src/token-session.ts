import { RealtimeError, toRealtimeError } from "./errors.js";
import type { RequestFn } from "./requests.js";
import { backoffDelayMs, readTokenClaims, refreshDelayMs } from "./token.js";

/** A cached token closer than this to expiry is not used for a new handshake. */
const MIN_TOKEN_VALIDITY_MS = 5000;

export interface TokenSessionDeps {
  getToken: () => string | Promise<string>;
  /** Refresh this long before expiry (at half the token's lifetime if that is sooner). */
  refreshMarginMs: number;
  /** Token refusals in a row after which the client gives up. */
  maxAuthFailures: number;
  request: RequestFn;
  isConnected: () => boolean;
  now: () => number;
  /** Failures nobody awaits: getToken or a refresh failed. */
  onError: (error: RealtimeError) => void;
}

/**
 * The token's life on the client: fetched with `getToken` for every handshake that needs
 * one (one fetch at a time), refreshed before it expires and handed to the live connection
 * with `auth:refresh`, dropped when the server refuses or expires it, and the count of
 * refusals after which connecting again is pointless.
 */
export class TokenSession {
  private token: string | undefined;
  /** Epoch seconds. */
  private exp: number | undefined;
  private obtainedAt = 0;
  private fetching: Promise<string> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshFailures = 0;
  private authFailures = 0;
  /** The last handshake went without a token because getToken failed: not the token's fault. */
  private fetchFailed = false;
  private stopped = false;
  private subject: string | undefined;

  constructor(private readonly deps: TokenSessionDeps) {}

  /** The token's `sub`, once a token has been fetched. */
  get userId(): string | undefined {
    return this.subject;
  }

  /**
   * The token for a handshake: the cached one while it is valid, a fresh one otherwise.
   * undefined when getToken failed (reported): the handshake goes without, and its refusal
   * does not count against the token.
   */
  async forHandshake(): Promise<string | undefined> {
    try {
      return await this.valid();
    } catch (err) {
      this.fetchFailed = true;
      this.deps.onError(toRealtimeError(err, "TOKEN_MISSING"));
      return undefined;
    }
  }

  /** The server expired or refused the token: the next handshake fetches a new one. */
  invalidate(): void {
    this.token = undefined;
    this.exp = undefined;
  }

  /**
   * The handshake was refused for the token. true: refused `maxAuthFailures` times in a
   * row, give up. An unreachable token endpoint is retried for as long as it takes; only
   * tokens the server refuses count.
   */
  refused(): boolean {
    this.invalidate();
    if (!this.fetchFailed) this.authFailures += 1;
    this.fetchFailed = false;
    return this.authFailures >= this.deps.maxAuthFailures;
  }

  /** A handshake succeeded: the refusals count starts over and the refresh is planned. */
  connected(): void {
    this.authFailures = 0;
    this.scheduleRefresh();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.refreshTimer);
  }

  private valid(): Promise<string> {
    const { token, exp } = this;
    if (token && (exp === undefined || exp * 1000 - this.deps.now() > MIN_TOKEN_VALIDITY_MS)) {
      return Promise.resolve(token);
    }
    return this.fetch();
  }

  /** One getToken call at a time: every handshake and refresh meanwhile shares its result. */
  private fetch(): Promise<string> {
    if (!this.fetching) {
      const fetching = this.fetchOnce();
      this.fetching = fetching;
      // Cleared once settled, not in fetchOnce's `finally`: a getToken that throws
      // synchronously would settle before `fetching` is even assigned, and stay cached.
      const clear = () => {
        if (this.fetching === fetching) this.fetching = undefined;
      };
      fetching.then(clear, clear);
    }
    return this.fetching;
  }

  private async fetchOnce(): Promise<string> {
    try {
      const fresh = await this.deps.getToken();
      if (typeof fresh !== "string" || fresh.length === 0) {
        throw new RealtimeError("TOKEN_MISSING", "getToken returned no token");
      }
      const claims = readTokenClaims(fresh);
      this.token = fresh;
      this.exp = claims.exp;
      this.obtainedAt = this.deps.now();
      if (claims.sub) this.subject = claims.sub;
      return fresh;
    } catch (err) {
      throw toRealtimeError(err, "TOKEN_MISSING");
    }
  }

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    if (this.stopped || this.exp === undefined) return;
    const delay = refreshDelayMs({
      exp: this.exp,
      obtainedAt: this.obtainedAt,
      now: this.deps.now(),
      marginMs: this.deps.refreshMarginMs,
      minDelayMs: 1000,
    });
    this.refreshTimer = setTimeout(() => void this.refresh(), delay);
  }

  /** A new token before the current one expires, handed to the live connection. */
  private async refresh(): Promise<void> {
    try {
      const fresh = await this.fetch();
      if (this.deps.isConnected()) {
        const { exp } = await this.deps.request("auth:refresh", { token: fresh });
        this.exp = exp;
      }
      this.refreshFailures = 0;
      this.scheduleRefresh();
    } catch (err) {
      if (this.stopped) return;
      const error = toRealtimeError(err);
      // Disconnected: the next handshake uses the new token and schedules the next refresh.
      if (error.code === "DISCONNECTED") return;
      this.deps.onError(error);
      this.refreshFailures += 1;
      this.refreshTimer = setTimeout(
        () => void this.refresh(),
        backoffDelayMs(this.refreshFailures, { minMs: 1000, maxMs: 30_000 }),
      );
    }
  }
}
