/**
 * The last `capacity` ids seen, for events that carry no sequence. Notifications are
 * delivered at least once (a publisher's retry sends one again, same id, moments later):
 * a bounded window of recent ids is enough for that, unlike a room's replay after a
 * reconnect, which the room cursor handles.
 */
export class RecentIds {
  /** Insertion order is age order: the first entry is the oldest. */
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 1000) {}

  /** true the first time `id` is seen (within the window). */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return true;
  }
}
