import type { Message } from "../protocol/events.js";
import { compareMessageIds } from "./ids.js";

interface RoomTrack {
  /** The newest id seen: the `since` cursor for the next rejoin. */
  cursor: string | undefined;
  /** Recently seen ids, oldest first (a Set keeps insertion order), bounded. */
  seen: Set<string>;
  /** Live messages that arrived while a join was in flight, delivered after its answer. */
  held: Message[] | undefined;
}

/**
 * Per room: which messages the application has already been given, and the cursor to
 * resume from. A message can reach the client twice (live and in a join answer, or a
 * retried send's ack), and live messages from two instances can arrive out of id order,
 * so de-duplication is by id, not by comparison with the cursor.
 */
export class MessageTracker {
  private readonly rooms = new Map<string, RoomTrack>();

  /** @param maxSeenPerRoom how many recent ids each room remembers for de-duplication. */
  constructor(private readonly maxSeenPerRoom = 1000) {}

  private room(roomId: string): RoomTrack {
    let track = this.rooms.get(roomId);
    if (!track) {
      track = { cursor: undefined, seen: new Set(), held: undefined };
      this.rooms.set(roomId, track);
    }
    return track;
  }

  cursor(roomId: string): string | undefined {
    return this.rooms.get(roomId)?.cursor;
  }

  /** Record a message; true the first time its id is seen in its room. */
  accept(message: Message): boolean {
    const track = this.room(message.roomId);
    if (track.seen.has(message.id)) return false;
    track.seen.add(message.id);
    if (track.seen.size > this.maxSeenPerRoom) {
      const oldest = track.seen.values().next().value;
      if (oldest !== undefined) track.seen.delete(oldest);
    }
    this.advance(track, message.id);
    return true;
  }

  /** Move the cursor over ids the application fetched itself (history pages). */
  observe(roomId: string, ids: readonly string[]): void {
    const track = this.room(roomId);
    for (const id of ids) this.advance(track, id);
  }

  private advance(track: RoomTrack, id: string): void {
    if (track.cursor === undefined || compareMessageIds(id, track.cursor) > 0) track.cursor = id;
  }

  /** Buffer the room's live messages until `release` (a join is in flight). */
  hold(roomId: string): void {
    const track = this.room(roomId);
    track.held ??= [];
  }

  /**
   * A live message: "new" (deliver it), "duplicate" (drop it) or "held" (a join is in
   * flight: the caller merges `release`'s messages with the join's answer).
   */
  receive(message: Message): "new" | "duplicate" | "held" {
    const track = this.room(message.roomId);
    if (track.held) {
      track.held.push(message);
      return "held";
    }
    return this.accept(message) ? "new" : "duplicate";
  }

  /** End a hold: the live messages that arrived meanwhile, not yet accepted. */
  release(roomId: string): Message[] {
    const track = this.rooms.get(roomId);
    if (!track) return [];
    const held = track.held ?? [];
    track.held = undefined;
    return held;
  }

  /** Accept a batch; the new ones, in id order, each id once. */
  acceptAll(messages: readonly Message[]): Message[] {
    return sortUniqueById(messages).filter((message) => this.accept(message));
  }

  isSeen(roomId: string, id: string): boolean {
    return this.rooms.get(roomId)?.seen.has(id) ?? false;
  }

  forget(roomId: string): void {
    this.rooms.delete(roomId);
  }
}

/** Messages in id order, each id once. */
export function sortUniqueById(messages: readonly Message[]): Message[] {
  const byId = new Map<string, Message>();
  for (const message of messages) if (!byId.has(message.id)) byId.set(message.id, message);
  return [...byId.values()].sort((a, b) => compareMessageIds(a.id, b.id));
}
