import type { ChatHistoryResult, ChatJoinResult, Message } from "../../src/protocol/index.js";
import type { FakeTransport, SentRequest } from "./fake-transport.js";

const JOIN_PAGE = 50;
const RECOVERY_PAGE = 200;
const BASE_MS = 1_700_000_000_000;

interface JoinPayload {
  roomId: string;
  sinceSeq?: number;
  epoch?: string;
}

interface HistoryPayload {
  roomId: string;
  before?: string;
  after?: string;
  limit?: number;
}

/**
 * One room's log as the per-room sequence contract describes it (docs: delivery contract):
 * contiguous `seq` per epoch, ids `<ms>-<seq>`, join answers paged by 200 with `live`, and
 * `recovered: false` for another epoch or a cursor older than the retained history. It
 * answers the requests a test picks from a FakeTransport; what reaches the client live is
 * up to the test.
 */
export class FakeChatServer {
  epoch = "e1";
  /** Retained messages of the current epoch, oldest first. */
  log: Message[] = [];
  private seq = 0;

  constructor(readonly roomId = "team:core") {}

  /** Store a message; returns it (the test decides whether it is delivered live). */
  post(text: string, senderId = "bob"): Message {
    this.seq += 1;
    const message: Message = {
      id: `${BASE_MS + this.seq}-${this.seq}`,
      roomId: this.roomId,
      seq: this.seq,
      epoch: this.epoch,
      senderId,
      text,
      createdAt: BASE_MS + this.seq,
    };
    this.log.push(message);
    return message;
  }

  postMany(count: number, prefix = "m"): Message[] {
    return Array.from({ length: count }, () => this.post(`${prefix}${this.seq + 1}`));
  }

  /** Redis lost the room: a new epoch, seq from 1 again. */
  loseState(epoch = "e2"): void {
    this.epoch = epoch;
    this.seq = 0;
    this.log = [];
  }

  /** Keep only the newest `count` messages. */
  trim(count: number): void {
    this.log = this.log.slice(-count);
  }

  join(payload: JoinPayload): ChatJoinResult {
    const base = {
      roomId: this.roomId,
      epoch: this.epoch,
      seq: this.seq,
      online: ["bob"],
      lastReadId: null,
      mentions: 0,
    };
    const newest = { ...base, messages: this.log.slice(-JOIN_PAGE), hasMore: this.log.length > JOIN_PAGE };
    const after = this.after(payload);
    if (after === undefined) return { ...newest, live: true, unread: 0 };
    if (after === "gone") return { ...newest, live: true, recovered: false, unread: 0 };
    const messages = after.slice(0, RECOVERY_PAGE);
    const more = after.length > messages.length;
    return { ...base, messages, hasMore: more, live: !more, recovered: true, unread: after.length };
  }

  history(payload: HistoryPayload): ChatHistoryResult & { epoch: string } {
    const limit = payload.limit ?? JOIN_PAGE;
    if (payload.after !== undefined) {
      const after = payload.after;
      const newer = this.log.filter((m) => compareIds(m.id, after) > 0);
      return { epoch: this.epoch, messages: newer.slice(0, limit), hasMore: newer.length > limit };
    }
    const before = payload.before;
    const older = before === undefined ? this.log : this.log.filter((m) => compareIds(m.id, before) < 0);
    return { epoch: this.epoch, messages: older.slice(-limit), hasMore: older.length > limit };
  }

  /** Answer every pending chat:join and chat:history of this room; returns how many. */
  answer(transport: FakeTransport): number {
    let answered = 0;
    for (const request of transport.pending()) {
      if ((request.payload as { roomId?: string }).roomId !== this.roomId) continue;
      if (request.event === "chat:join") this.answerJoin(transport, request);
      else if (request.event === "chat:history")
        transport.ok(request, this.history(request.payload as never));
      else continue;
      answered += 1;
    }
    return answered;
  }

  answerJoin(transport: FakeTransport, request: SentRequest): ChatJoinResult {
    const result = this.join(request.payload as JoinPayload);
    transport.ok(request, result);
    return result;
  }

  /** Messages after the payload's cursor; undefined without one, "gone" when it cannot be served. */
  private after(payload: JoinPayload): Message[] | "gone" | undefined {
    const first = this.log[0];
    if (payload.sinceSeq !== undefined) {
      if (payload.epoch !== this.epoch) return "gone";
      if (first && payload.sinceSeq < first.seq - 1) return "gone";
      return this.log.filter((m) => m.seq > (payload.sinceSeq as number));
    }
    return undefined;
  }
}

function compareIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split("-").map(Number);
  const [bMs = 0, bSeq = 0] = b.split("-").map(Number);
  return aMs - bMs || aSeq - bSeq;
}
