import type { InstanceStore } from "./store.js";

/** By last heartbeat, then name: the order of a Redis sorted set. */
const oldestFirst = (entries: [string, number][]) =>
  entries.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));

/** The registrations of one process (no Redis): same contract, so the registry does not care. */
export function createMemoryInstanceStore(): InstanceStore {
  const live = new Map<string, number>();
  const dead = new Map<string, number>();

  return {
    async register(registration, now) {
      live.set(registration, now);
    },
    async heartbeat(registration, now) {
      if (!live.has(registration)) return false;
      live.set(registration, now);
      return true;
    },
    async claimDead(staleBefore, limit) {
      const stale = oldestFirst([...live].filter(([, lastBeat]) => lastBeat < staleBefore)).slice(0, limit);
      for (const [registration, lastBeat] of stale) {
        live.delete(registration);
        dead.set(registration, lastBeat);
      }
      return oldestFirst([...dead])
        .slice(0, limit)
        .map(([registration, lastBeat]) => ({ registration, lastBeat }));
    },
    async declareDead(registration, lastBeat) {
      if (!live.has(registration) && !dead.has(registration)) dead.set(registration, lastBeat);
    },
    async forget(registration) {
      dead.delete(registration);
    },
    async live() {
      return oldestFirst([...live]).map(([registration, lastBeat]) => ({ registration, lastBeat }));
    },
  };
}
