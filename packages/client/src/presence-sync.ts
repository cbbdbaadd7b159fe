import { isRetryable, type RealtimeError, toRealtimeError } from "./errors.js";
import type { PresenceState } from "./protocol.js";
import type { RequestFn } from "./requests.js";
import type { PresenceApi, SettableStatus } from "./types.js";

/** presence:subscribe takes at most this many user ids. */
const PRESENCE_CHUNK = 500;

export interface PresenceSyncDeps {
  request: RequestFn;
  isConnected: () => boolean;
  onPresence: (state: PresenceState) => void;
  onError: (error: RealtimeError) => void;
}

/**
 * Presence as the application asked for it: the subscriptions and the status it set,
 * both renewed after every reconnect (the server forgets them with the old socket, and a
 * user who went offline would come back `online`).
 */
export class PresenceSync {
  private readonly subscriptions = new Set<string>();
  private status: { status: SettableStatus; text?: string } | undefined;

  constructor(private readonly deps: PresenceSyncDeps) {}

  readonly api: PresenceApi = {
    set: (next, text) => {
      this.status = text === undefined ? { status: next } : { status: next, text };
      return this.deps.request("presence:set", this.status);
    },
    subscribe: async (userIds) => {
      const added = userIds.filter((id) => !this.subscriptions.has(id));
      for (const id of userIds) this.subscriptions.add(id);
      try {
        const states: PresenceState[] = [];
        for (const chunk of chunks(userIds)) {
          states.push(...(await this.deps.request("presence:subscribe", { userIds: chunk })));
        }
        return states;
      } catch (err) {
        if (!isRetryable(err)) for (const id of added) this.subscriptions.delete(id);
        throw err;
      }
    },
    unsubscribe: async (userIds) => {
      for (const id of userIds) this.subscriptions.delete(id);
      if (!this.deps.isConnected() || userIds.length === 0) return;
      for (const chunk of chunks(userIds)) {
        await this.deps.request("presence:unsubscribe", { userIds: chunk });
      }
    },
    query: (userIds) => this.deps.request("presence:query", { userIds }),
  };

  /** After a reconnect: subscribe and set the status again. */
  restore(): void {
    const failed = (err: unknown) => {
      if (toRealtimeError(err).code !== "DISCONNECTED") this.deps.onError(toRealtimeError(err));
    };
    for (const chunk of chunks([...this.subscriptions])) {
      this.deps.request("presence:subscribe", { userIds: chunk }).then((states) => {
        for (const state of states) this.deps.onPresence(state);
      }, failed);
    }
    if (this.status) this.deps.request("presence:set", this.status).then(this.deps.onPresence, failed);
  }
}

function chunks(ids: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < ids.length; i += PRESENCE_CHUNK) out.push(ids.slice(i, i + PRESENCE_CHUNK));
  return out;
}
