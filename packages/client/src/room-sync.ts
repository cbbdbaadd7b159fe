import { isRetryable, RealtimeError, toRealtimeError } from "./errors.js";
import type { ChatJoinResult, Message } from "./protocol.js";
import type { RequestFn } from "./requests.js";
import { type JoinRequest, RoomCursor, sortUniqueById } from "./room-cursor.js";
import { backoffDelayMs } from "./token.js";
import type { GapEvent, RejoinEvent } from "./types.js";

export interface RoomSyncDeps {
  request: RequestFn;
  isConnected: () => boolean;
  /** The current connection's number: work begun on an older connection stops. */
  connection: () => number;
  /** How long `join` waits for the room before rejecting with TIMEOUT. */
  joinTimeoutMs: number;
  /** A message for the application: each once, in seq order per room. */
  deliver: (message: Message) => void;
  /**
   * A join's answer, before it resolves and before the live messages held during it are
   * handed on: its page (as history shows it) is the room's state up to the answer's seq.
   */
  onAnswer?: (roomId: string, messages: Message[]) => void;
  onRejoin: (event: RejoinEvent) => void;
  onGap: (event: GapEvent) => void;
  /** Failures nobody awaits (a failed rejoin). */
  onError: (error: RealtimeError) => void;
  /** The room is joined on this connection: its queued sends may go. */
  onReady: (roomId: string) => void;
  /** The server refused the room for good (its queued sends are pointless). */
  onRefused: (roomId: string, error: RealtimeError) => void;
}

/**
 * "newest": the application asked (the newest page, the cursor starts over there).
 * "reconnect": joined again on a new connection, from the cursor.
 * "fill": a live message came after a hole: joined again from the cursor on this connection.
 */
type JoinKind = "newest" | "reconnect" | "fill";

/**
 * A room token (a JWT with a `room` claim, from the application's backend) for a room the
 * connection's token does not grant, or a function that returns a fresh one: it is called
 * before every join of the room, the rejoins after a reconnect included.
 */
export type RoomToken = string | (() => string | Promise<string>);

interface RoomState {
  /** Presented with every `chat:join` of the room. */
  token: RoomToken | undefined;
  /** Joined at least once: the next join recovers from the cursor. */
  everJoined: boolean;
  /** The connection on which the room is joined (-1: not on this one). */
  joinedOn: number;
  joining: boolean;
  waiters: { resolve(result: ChatJoinResult): void; reject(err: RealtimeError): void }[];
  retry: ReturnType<typeof setTimeout> | undefined;
  readonly cursor: RoomCursor;
  /** Live messages that arrived while a join was in flight, handled after its answer. */
  held: Message[] | undefined;
}

/** The room token to present now: the string, or what the function returns. */
async function tokenOf(token: RoomToken): Promise<string> {
  return typeof token === "string" ? token : await token();
}

/** What a join brought. */
interface Joined {
  result: ChatJoinResult;
  /** Every message the answers carried, for whoever awaits the join. */
  answered: Message[];
  /** Handed to the application, since the last gap. */
  handed: Message[];
  recovered: boolean;
}

/**
 * The rooms the client keeps joined. Per room it keeps a cursor (epoch and the last
 * contiguous seq handed to the application), joins again from it after every reconnect
 * following `live: false` answers until the socket is live, holds live messages while a
 * join is in flight, fills a hole in live delivery by joining again, and reports what it
 * cannot fill as a `gap`. The cursor only moves over messages handed to the application.
 */
export class RoomSync {
  private readonly rooms = new Map<string, RoomState>();
  private closed = false;

  constructor(private readonly deps: RoomSyncDeps) {}

  /** The rooms this client keeps joined. */
  list(): string[] {
    return [...this.rooms.keys()];
  }

  has(roomId: string): boolean {
    return this.rooms.has(roomId);
  }

  /** Untracked, or joined on the current connection: sends to it may go. */
  isReady(roomId: string): boolean {
    const room = this.rooms.get(roomId);
    return !room || room.joinedOn === this.deps.connection();
  }

  /**
   * The application asks for the room: its newest page, even when already joined on this
   * connection. Kept until it is answered or `joinTimeoutMs` passes.
   */
  join(roomId: string, token?: RoomToken): Promise<ChatJoinResult> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new RealtimeError("DISCONNECTED", "the client is closed"));
        return;
      }
      const room = this.rooms.get(roomId) ?? this.track(roomId);
      if (token !== undefined) room.token = token;
      const waiter = {
        resolve: (result: ChatJoinResult) => {
          clearTimeout(timer);
          resolve(result);
        },
        reject: (err: RealtimeError) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        room.waiters = room.waiters.filter((w) => w !== waiter);
        // Never joined and nobody waits any more: stop trying.
        if (!room.everJoined && room.waiters.length === 0 && this.rooms.get(roomId) === room) {
          clearTimeout(room.retry);
          this.rooms.delete(roomId);
        }
        reject(new RealtimeError("TIMEOUT", `could not join ${roomId} within ${this.deps.joinTimeoutMs} ms`));
      }, this.deps.joinTimeoutMs);
      room.waiters.push(waiter);
      if (this.deps.isConnected() && !room.joining) {
        room.joinedOn = -1;
        void this.joinRoom(roomId, this.deps.connection(), "newest");
      }
    });
  }

  /** Stop keeping the room: its waiting joins reject with `error`. */
  forget(roomId: string, error: RealtimeError): void {
    const room = this.rooms.get(roomId);
    this.rooms.delete(roomId);
    if (!room) return;
    clearTimeout(room.retry);
    for (const waiter of room.waiters.splice(0)) waiter.reject(error);
  }

  /** A live `chat:message`. */
  live(message: Message): void {
    const room = this.rooms.get(message.roomId);
    // In flight after a leave, or a room this client never asked for.
    if (!room) return;
    if (room.held) {
      room.held.push(message);
      return;
    }
    const arrival = room.cursor.classify(message);
    if (arrival === "next") {
      room.cursor.advance(message);
      this.deps.deliver(message);
      return;
    }
    if (arrival === "old") return;
    // After a hole (or in a new epoch): never skipped. Joined here, join again from the
    // cursor, which fills the hole or reports the gap; otherwise the join under way or to
    // come starts from the unmoved cursor anyway.
    const connection = this.deps.connection();
    if (room.joinedOn === connection && !room.joining && room.retry === undefined) {
      void this.joinRoom(message.roomId, connection, "fill", [message]);
    }
  }

  /**
   * A send's stored message, from its ack: handed on when it is the next one. Otherwise
   * its live copy arrives in order after the ones before it.
   */
  stored(message: Message): void {
    const room = this.rooms.get(message.roomId);
    if (!room || room.held || room.cursor.classify(message) !== "next") return;
    room.cursor.advance(message);
    this.deps.deliver(message);
  }

  /**
   * After a (re)connect: join every room again, one at a time (a client in many rooms must
   * not trip the join rate limit).
   */
  async rejoinAll(connection: number): Promise<void> {
    for (const [roomId, room] of [...this.rooms]) {
      if (this.deps.connection() !== connection) return;
      // The application may have joined it on this connection already.
      if (room.joinedOn !== connection) {
        await this.joinRoom(roomId, connection, room.everJoined ? "reconnect" : "newest");
      }
    }
  }

  /** For good: waiting joins reject with `error`. */
  close(error: RealtimeError): void {
    this.closed = true;
    for (const room of this.rooms.values()) {
      clearTimeout(room.retry);
      for (const waiter of room.waiters.splice(0)) waiter.reject(error);
    }
    this.rooms.clear();
  }

  private track(roomId: string): RoomState {
    const room: RoomState = {
      token: undefined,
      everJoined: false,
      joinedOn: -1,
      joining: false,
      waiters: [],
      retry: undefined,
      cursor: new RoomCursor(),
      held: undefined,
    };
    this.rooms.set(roomId, room);
    return room;
  }

  /** Join `roomId` on connection `my`; `carried`: live messages already waiting for it. */
  private async joinRoom(roomId: string, my: number, kind: JoinKind, carried: Message[] = []): Promise<void> {
    const room = this.rooms.get(roomId);
    if (!room || room.joining || this.deps.connection() !== my || !this.deps.isConnected()) return;
    room.joining = true;
    clearTimeout(room.retry);
    room.retry = undefined;
    // Live messages of the room arrive as soon as the server has joined the socket, maybe
    // before the answer: hold them until it is in.
    room.held = carried;
    try {
      const joined =
        kind === "newest" ? await this.joinNewest(room, roomId) : await this.recover(room, roomId);
      room.joining = false;
      if (!joined || this.rooms.get(roomId) !== room) return;
      this.joined(room, roomId, my, kind, joined);
    } catch (err) {
      room.joining = false;
      // Not proof that the gap before them was filled: the next join fetches them again
      // from the cursor, which only moved over what answers carried.
      room.held = undefined;
      this.joinFailed(room, roomId, my, kind, toRealtimeError(err));
    }
  }

  /** The newest page; the cursor starts over at its end. */
  private async joinNewest(room: RoomState, roomId: string): Promise<Joined | undefined> {
    // No await without a token: the join goes out in the same tick as before.
    const payload = room.token === undefined ? { roomId } : { roomId, token: await tokenOf(room.token) };
    const result = await this.deps.request("chat:join", payload);
    if (this.rooms.get(roomId) !== room) return undefined;
    room.cursor.restart(result.epoch, result.seq);
    return { result, answered: [...result.messages], handed: [], recovered: true };
  }

  /** From the cursor, answer after answer, until one says the socket is live. */
  private async recover(room: RoomState, roomId: string): Promise<Joined | undefined> {
    const answered: Message[] = [];
    const handed: Message[] = [];
    let recovered = true;
    let request: JoinRequest = room.cursor.joinRequest(roomId);
    for (;;) {
      const payload = room.token === undefined ? request : { ...request, token: await tokenOf(room.token) };
      const result = await this.deps.request("chat:join", payload);
      if (this.rooms.get(roomId) !== room) return undefined;
      answered.push(...result.messages);
      if (result.recovered === false) {
        recovered = false;
        handed.length = 0;
        this.reportGap(room, roomId, result);
      }
      const taken = this.accept(room, roomId, result.messages, handed, { deliver: true, stopAtHole: false });
      if (!taken.unbroken) recovered = false;
      const next = room.cursor.joinRequest(roomId);
      // An answer that brings nothing new cannot be followed.
      const stuck = next.sinceSeq === request.sinceSeq && next.epoch === request.epoch;
      if (result.live || stuck) {
        return { result, answered, handed, recovered };
      }
      request = next;
    }
  }

  /** The join is answered: release what was held, tell whoever waits, let sends go. */
  private joined(room: RoomState, roomId: string, my: number, kind: JoinKind, joined: Joined): void {
    const { result, answered, handed } = joined;
    room.joinedOn = my;
    room.everJoined = true;
    const held = room.held ?? [];
    room.held = undefined;
    // Held messages continue the answer up to a hole; from there they go through `live`,
    // which fills the hole with another join.
    const newest = kind === "newest";
    const { rest } = this.accept(room, roomId, held, newest ? answered : handed, {
      deliver: !newest,
      stopAtHole: true,
    });
    if (!newest) answered.push(...held.filter((m) => !rest.includes(m)));
    const answer: ChatJoinResult = { ...result, messages: sortUniqueById(answered) };
    this.deps.onAnswer?.(roomId, answer.messages);
    for (const waiter of room.waiters.splice(0)) waiter.resolve(answer);
    if (kind === "reconnect" || (kind === "fill" && !joined.recovered)) {
      this.deps.onRejoin({
        roomId,
        recovered: joined.recovered,
        messages: handed,
        online: result.online,
        lastReadId: result.lastReadId,
        unread: result.unread,
        mentions: result.mentions,
      });
    }
    this.deps.onReady(roomId);
    for (const message of rest) this.live(message);
  }

  private joinFailed(
    room: RoomState,
    roomId: string,
    my: number,
    kind: JoinKind,
    error: RealtimeError,
  ): void {
    if (this.rooms.get(roomId) !== room || this.closed) return;
    // Dropped connection: the next connect joins again.
    if (error.code === "DISCONNECTED") return;
    if (isRetryable(error)) {
      const delay = error.retryAfterMs ?? backoffDelayMs(1, { minMs: 1000, maxMs: 5000 });
      room.retry = setTimeout(() => {
        room.retry = undefined;
        void this.joinRoom(roomId, my, kind);
      }, delay);
      return;
    }
    // Refused for good (e.g. FORBIDDEN after a token change): forget the room.
    this.rooms.delete(roomId);
    this.deps.onRefused(roomId, error);
    for (const waiter of room.waiters.splice(0)) waiter.reject(error);
    if (room.everJoined) this.deps.onError(error);
  }

  /**
   * Take `messages` (an answer, or held live ones) in order: each one after the cursor is
   * added to `into`, and delivered with `deliver`. At a hole or an epoch change: with
   * `stopAtHole` the rest is returned untouched (live messages, to be filled), otherwise
   * the gap is reported (the server's own answer skips it) and `unbroken` is false.
   */
  private accept(
    room: RoomState,
    roomId: string,
    messages: readonly Message[],
    into: Message[],
    options: { deliver: boolean; stopAtHole: boolean },
  ): { unbroken: boolean; rest: Message[] } {
    const sorted = sortUniqueById(messages);
    let unbroken = true;
    for (const [index, message] of sorted.entries()) {
      const arrival = room.cursor.classify(message);
      if (arrival === "old") continue;
      if (arrival !== "next") {
        if (options.stopAtHole) return { unbroken, rest: sorted.slice(index) };
        unbroken = false;
        this.skipTo(room, roomId, message, arrival === "epoch" ? "epoch" : "trimmed");
      }
      room.cursor.advance(message);
      into.push(message);
      if (options.deliver) this.deps.deliver(message);
    }
    return { unbroken, rest: [] };
  }

  /** A join answer could not continue from the cursor: report it, restart before its news. */
  private reportGap(room: RoomState, roomId: string, result: ChatJoinResult): void {
    const { epoch, seq } = room.cursor.current;
    const lost = result.epoch !== epoch;
    this.gap(room, roomId, lost ? "epoch" : "trimmed", result.epoch);
    // In the same epoch the application keeps what it holds (a log that lost messages after
    // a failover still has the ones before): only messages after the cursor are news.
    const first = lost ? result.messages[0] : result.messages.find((m) => m.seq > seq);
    if (first) room.cursor.restart(result.epoch, first.seq - 1);
    else room.cursor.restart(result.epoch, lost ? result.seq : Math.max(seq, result.seq));
  }

  /** Messages before `message` will never come: report it, restart just before it. */
  private skipTo(room: RoomState, roomId: string, message: Message, reason: GapEvent["reason"]): void {
    this.gap(room, roomId, reason, message.epoch);
    room.cursor.restart(message.epoch, message.seq - 1);
  }

  private gap(room: RoomState, roomId: string, reason: GapEvent["reason"], epoch: string): void {
    const event: GapEvent = { roomId, epoch, reason };
    if (reason === "trimmed") event.fromSeq = room.cursor.current.seq + 1;
    this.deps.onGap(event);
  }
}
