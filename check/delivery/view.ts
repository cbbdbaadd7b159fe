import type { WireMessage } from "./wire.js";

/** What a receiver's app saw in one room, in the order it saw it. */
export type ViewEntry =
  | { kind: "message"; message: WireMessage; at: number }
  | { kind: "gap"; reason: string; at: number };

/** A live `chat:message` that came after a later one of the room and was not a repeat. */
export interface ArrivalAnomaly {
  roomId: string;
  id: string;
  /** The latest message the receiver held when it arrived. */
  after: string;
  at: number;
}

export class RoomView {
  readonly entries: ViewEntry[] = [];
  /** Ids handed so far. */
  readonly handed = new Set<string>();

  constructor(readonly roomId: string) {}

  hand(message: WireMessage): void {
    this.entries.push({ kind: "message", message, at: Date.now() });
    this.handed.add(message.id);
  }

  /** The receiver was told it missed messages (recovered:false, a new epoch, the SDK's gap event). */
  gap(reason: string): void {
    this.entries.push({ kind: "gap", reason, at: Date.now() });
  }
}

export type ReceiverKind = "raw" | "sdk";

/** Everything the verification needs from one receiver. */
export interface ReceiverRecord {
  name: string;
  kind: ReceiverKind;
  userId: string;
  views: Map<string, RoomView>;
  anomalies: ArrivalAnomaly[];
  reconnects: number;
  /** Join answers (raw) or rejoin events (SDK) that said recovered:false. */
  notRecovered: number;
}
