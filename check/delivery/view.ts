import type { WireMessage } from "./wire.js";

/** What the verification needs of a handed message (a long run keeps millions of them). */
export type Handed = Pick<WireMessage, "id" | "seq" | "epoch">;

/** What a receiver's app saw in one room, in the order it saw it. */
export type ViewEntry = { kind: "message"; message: Handed } | { kind: "gap"; reason: string };

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

  hand({ id, seq, epoch }: WireMessage): void {
    const message: Handed = {
      id,
      ...(seq === undefined ? {} : { seq }),
      ...(epoch === undefined ? {} : { epoch }),
    };
    this.entries.push({ kind: "message", message });
    this.handed.add(message.id);
  }

  /** The receiver was told it missed messages (recovered:false, a new epoch, the SDK's gap event). */
  gap(reason: string): void {
    this.entries.push({ kind: "gap", reason });
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
