import type { Message } from "../protocol/events.js";
import { compareMessageIds } from "./ids.js";

/**
 * How a message relates to what the application holds: the one it needs next, one it
 * has, one beyond a hole (messages between are missing), or one of a new epoch (the
 * room's history was lost in Redis).
 */
export type Arrival = "next" | "old" | "hole" | "epoch";

/** `chat:join`'s payload with the sequence cursor (`sinceSeq` requires `epoch`). */
export interface JoinRequest {
  roomId: string;
  sinceSeq?: number;
  epoch?: string;
  since?: string;
}

/**
 * Where the application is in one room: the last message handed to it, which is also the
 * last of an unbroken run (the server relays each room contiguously, so "the last seq
 * received" is a safe cursor). De-duplication is by this high-water mark, not by a
 * bounded set of ids: a replay of any length is recognised.
 */
export class RoomCursor {
  private epoch: string | undefined;
  private seq: number | undefined;
  private id: string | undefined;

  get current(): { epoch: string | undefined; seq: number | undefined } {
    return { epoch: this.epoch, seq: this.seq };
  }

  classify(message: Message): Arrival {
    if (this.seq === undefined && this.id === undefined) return "next";
    if (message.seq === undefined || this.seq === undefined) {
      // A server without the per-room sequence: message ids are the only order there is.
      return this.id !== undefined && compareMessageIds(message.id, this.id) <= 0 ? "old" : "next";
    }
    if (message.epoch !== this.epoch) return "epoch";
    if (message.seq <= this.seq) return "old";
    return message.seq === this.seq + 1 ? "next" : "hole";
  }

  /** The application now holds `message` (and everything before it). */
  advance(message: Message): void {
    this.id = message.id;
    if (message.seq !== undefined) {
      this.seq = message.seq;
      this.epoch = message.epoch ?? this.epoch;
    }
  }

  /**
   * Start over at a position the server gave (a join answer that did not continue from
   * the cursor): `seq` is the last message of the epoch the application is given or skips.
   */
  restart(epoch: string | undefined, seq: number | undefined, id: string | undefined): void {
    this.epoch = epoch;
    this.seq = epoch === undefined ? undefined : seq;
    this.id = id;
  }

  /** The join that continues from here: by sequence, or by id from a server without one. */
  joinRequest(roomId: string): JoinRequest {
    if (this.seq !== undefined && this.epoch !== undefined) {
      return { roomId, sinceSeq: this.seq, epoch: this.epoch };
    }
    return this.id === undefined ? { roomId } : { roomId, since: this.id };
  }
}

/** Messages in id order (within an epoch the same as seq order), each id once. */
export function sortUniqueById(messages: readonly Message[]): Message[] {
  const byId = new Map<string, Message>();
  for (const message of messages) if (!byId.has(message.id)) byId.set(message.id, message);
  return [...byId.values()].sort((a, b) => compareMessageIds(a.id, b.id));
}
