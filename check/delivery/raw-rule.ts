import { compareMessageIds } from "../../src/protocol/index.js";
import type { ArrivalAnomaly, RoomView } from "./view.js";
import type { WireJoinPayload, WireJoinResult, WireMessage } from "./wire.js";

/** `m` comes after the cursor: by `seq` within one epoch, by id where the server sends no seq. */
function isAfter(m: WireMessage, held: WireMessage): boolean {
  if (m.seq !== undefined && held.seq !== undefined) return m.seq > held.seq;
  return compareMessageIds(m.id, held.id) > 0;
}

function epochChanged(m: WireMessage, held: WireMessage | undefined): boolean {
  return held?.epoch !== undefined && m.epoch !== undefined && m.epoch !== held.epoch;
}

/**
 * The README's rule for raw clients, for one room, without any I/O: keep the last
 * message received as the cursor; join with `{sinceSeq, epoch}` of it (or `{since: id}`
 * where messages carry no seq); apply the answer's messages; join again while `live` is
 * false; `recovered: false` is a gap; drop a message that is not after the one held; a
 * message of another epoch is a gap, then a join without a cursor. Live messages that
 * arrive while a join is unanswered are applied after its answer ("live" starts there).
 */
export class RawRoomRule {
  /** The last message received: the cursor. */
  private held: WireMessage | undefined;
  /** A join is under way: live messages wait for its answer. */
  joining = false;
  private readonly waiting: WireMessage[] = [];
  /** Answers that said recovered:false. */
  notRecovered = 0;

  constructor(
    readonly view: RoomView,
    private readonly anomalies: ArrivalAnomaly[],
  ) {}

  /** The payload of the next join. */
  joinPayload(): WireJoinPayload {
    const { roomId } = this.view;
    const held = this.held;
    if (!held) return { roomId };
    if (held.seq !== undefined && held.epoch !== undefined)
      return { roomId, sinceSeq: held.seq, epoch: held.epoch };
    return { roomId, since: held.id };
  }

  /** Applies a join's answer; "again" when the client must join again (live: false). */
  onAnswer(payload: WireJoinPayload, answer: WireJoinResult): "again" | "live" {
    const withCursor = payload.sinceSeq !== undefined || payload.since !== undefined;
    if (withCursor && answer.recovered === false) {
      this.notRecovered += 1;
      this.view.gap("recovered:false");
      this.held = undefined;
    }
    for (const message of answer.messages) this.apply(message, false);
    if (answer.live === false) return "again";
    this.joining = false;
    let rejoin = false;
    for (const message of this.waiting.splice(0)) rejoin = this.onMessage(message) === "rejoin" || rejoin;
    return rejoin ? "again" : "live";
  }

  /** A live `chat:message`; "rejoin" when it started a new epoch (join again, without a cursor). */
  onMessage(message: WireMessage): "rejoin" | undefined {
    if (this.joining) {
      this.waiting.push(message);
      return undefined;
    }
    if (epochChanged(message, this.held)) {
      this.view.gap("epoch");
      this.held = undefined;
      this.joining = true;
      this.waiting.push(message);
      return "rejoin";
    }
    this.apply(message, true);
    return undefined;
  }

  private apply(message: WireMessage, live: boolean): void {
    const held = this.held;
    if (held && !isAfter(message, held)) {
      if (live && !this.view.handed.has(message.id))
        this.anomalies.push({ roomId: this.view.roomId, id: message.id, after: held.id, at: Date.now() });
      return;
    }
    this.view.hand(message);
    this.held = message;
  }
}
