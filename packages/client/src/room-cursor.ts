import { compareMessageIds } from "./ids.js";
import type { Message } from "./protocol.js";

/**
 * How a message relates to what the application holds: the one it needs next, one it
 * has, one beyond a hole (messages between are missing), or one of a new epoch (the
 * room's history was lost in Redis).
 */
export type Arrival = "next" | "old" | "hole" | "epoch";

/** `chat:join`'s payload with the sequence cursor. */
export interface JoinRequest {
  roomId: string;
  sinceSeq?: number;
  epoch?: string;
}

/**
 * Where the application is in one room: the epoch and the seq of the last message handed
 * to it, which is also the last of an unbroken run (the server relays each room
 * contiguously, so "the last seq received" is a safe cursor). De-duplication is by this
 * high-water mark, not by a bounded set of ids: a replay of any length is recognised.
 */
export class RoomCursor {
  private epoch: string | undefined;
  private seq = 0;

  get current(): { epoch: string | undefined; seq: number } {
    return { epoch: this.epoch, seq: this.seq };
  }

  classify(message: Message): Arrival {
    // Nothing held yet: whatever comes first starts the run.
    if (this.epoch === undefined) return "next";
    if (message.epoch !== this.epoch) return "epoch";
    if (message.seq <= this.seq) return "old";
    return message.seq === this.seq + 1 ? "next" : "hole";
  }

  /** The application now holds `message` (and everything before it). */
  advance(message: Message): void {
    this.epoch = message.epoch;
    this.seq = message.seq;
  }

  /** Start over at a position the server gave: `seq` is the last one the application holds or skips. */
  restart(epoch: string, seq: number): void {
    this.epoch = epoch;
    this.seq = seq;
  }

  /** The join that continues from here (none before the first answer: the newest page). */
  joinRequest(roomId: string): JoinRequest {
    return this.epoch === undefined ? { roomId } : { roomId, sinceSeq: this.seq, epoch: this.epoch };
  }
}

/** Messages in id order (within an epoch the same as seq order), each id once. */
export function sortUniqueById(messages: readonly Message[]): Message[] {
  const byId = new Map<string, Message>();
  for (const message of messages) if (!byId.has(message.id)) byId.set(message.id, message);
  return [...byId.values()].sort((a, b) => compareMessageIds(a.id, b.id));
}
