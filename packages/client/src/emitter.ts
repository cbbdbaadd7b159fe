// biome-ignore lint/suspicious/noExplicitAny: listener maps are keyed by event name with any signature
type Listener = (...args: any[]) => void;

/** A tiny typed event emitter: the SDK must not depend on Node's `events` in browsers. */
export class Emitter<Events extends { [K in keyof Events]: Listener }> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  on<E extends keyof Events>(event: E, listener: Events[E]): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  off<E extends keyof Events>(event: E, listener: Events[E]): void {
    this.listeners.get(event)?.delete(listener);
  }

  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (err) {
        // An application bug in one listener must not stop the others or the SDK's own work.
        reportListenerError(err);
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

function reportListenerError(err: unknown): void {
  const report = (globalThis as { reportError?: (err: unknown) => void }).reportError;
  if (typeof report === "function") report(err);
  else console.error("realtime client: a listener threw", err);
}
