import type { ChatHistoryResult, ChatJoinResult, Message } from "../protocol/events.js";
import { isRetryable, RealtimeError, toRealtimeError } from "./errors.js";
import { MessageTracker, sortUniqueById } from "./message-tracker.js";
import type { RequestFn } from "./requests.js";
import { backoffDelayMs } from "./token.js";
import type { RejoinEvent } from "./types.js";

const MAX_RECOVERY_PAGES = 20;
const HISTORY_PAGE_SIZE = 100;

export interface RoomSyncDeps {
  request: RequestFn;
  isConnected: () => boolean;
  /** The current connection's number: work begun on an older connection stops. */
  connection: () => number;
  /** How long `join` waits for the room before rejecting with TIMEOUT. */
  joinTimeoutMs: number;
  /** A message for the application, each once. */
  deliver: (message: Message) => void;
  onRejoin: (event: RejoinEvent) => void;
  /** Failures nobody awaits (a failed rejoin or catch-up). */
  onError: (error: RealtimeError) => void;
  /** The room is joined on this connection: its queued sends may go. */
  onReady: (roomId: string) => void;
  /** The server refused the room for good (its queued sends are pointless). */
  onRefused: (roomId: string, error: RealtimeError) => void;
}

interface RoomState {
  /** Joined at least once: the next join recovers from the cursor. */
  everJoined: boolean;
  /** The connection on which the room is joined (-1: not on this one). */
  joinedOn: number;
  joining: boolean;
  waiters: { resolve(result: ChatJoinResult): void; reject(err: RealtimeError): void }[];
  retry: ReturnType<typeof setTimeout> | undefined;
}

/**
 * The rooms the client keeps joined: joins and rejoins after every reconnect from the last
 * message seen, paging through what was missed, holding live messages during a join and
 * handing the application every message once.
 */
export class RoomSync {
  private readonly rooms = new Map<string, RoomState>();
  private readonly tracker = new MessageTracker();
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
  join(roomId: string): Promise<ChatJoinResult> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new RealtimeError("DISCONNECTED", "the client is closed"));
        return;
      }
      let room = this.rooms.get(roomId);
      if (!room) {
        room = { everJoined: false, joinedOn: -1, joining: false, waiters: [], retry: undefined };
        this.rooms.set(roomId, room);
      }
      const current = room;
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
        current.waiters = current.waiters.filter((w) => w !== waiter);
        // Never joined and nobody waits any more: stop trying.
        if (!current.everJoined && current.waiters.length === 0 && this.rooms.get(roomId) === current) {
          clearTimeout(current.retry);
          this.rooms.delete(roomId);
        }
        reject(new RealtimeError("TIMEOUT", `could not join ${roomId} within ${this.deps.joinTimeoutMs} ms`));
      }, this.deps.joinTimeoutMs);
      current.waiters.push(waiter);
      if (this.deps.isConnected() && !current.joining) {
        current.joinedOn = -1;
        void this.joinRoom(roomId, this.deps.connection(), false);
      }
    });
  }

  /** Stop keeping the room: its waiting joins reject with `error`. */
  forget(roomId: string, error: RealtimeError): void {
    const room = this.rooms.get(roomId);
    this.rooms.delete(roomId);
    if (room) {
      clearTimeout(room.retry);
      for (const waiter of room.waiters.splice(0)) waiter.reject(error);
    }
    this.tracker.forget(roomId);
  }

  /** A live `chat:message`, or a send's stored message. */
  live(message: Message): void {
    // In flight after a leave, or a room this client never asked for.
    if (!this.rooms.has(message.roomId)) return;
    if (this.tracker.receive(message) === "new") this.deliver([message]);
  }

  /** A history page the application fetched itself. */
  observe(roomId: string, result: ChatHistoryResult): void {
    if (!this.rooms.has(roomId)) return;
    this.tracker.observe(
      roomId,
      result.messages.map((m) => m.id),
    );
  }

  /**
   * After a (re)connect: join every room again, one at a time (a client in many rooms must
   * not trip the join rate limit).
   */
  async rejoinAll(connection: number): Promise<void> {
    for (const [roomId, room] of [...this.rooms]) {
      if (this.deps.connection() !== connection) return;
      // The application may have joined it on this connection already.
      if (room.joinedOn !== connection) await this.joinRoom(roomId, connection, room.everJoined);
    }
  }

  /**
   * The server's instance lost its link to the others for a moment: messages stored after
   * `since` may never have arrived live. Page through them; the tracker drops what we have.
   */
  resync(roomId: string, since: string): void {
    const connection = this.deps.connection();
    if (this.rooms.get(roomId)?.joinedOn === connection) void this.catchUp(roomId, since, connection);
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

  private deliver(messages: readonly Message[]): void {
    for (const message of messages) this.deps.deliver(message);
  }

  /**
   * Join `roomId` on connection `my`. `recover`: a rejoin after a reconnect, from the last
   * message seen (`since`), paging through everything missed; otherwise the newest page.
   */
  private async joinRoom(roomId: string, my: number, recover: boolean): Promise<void> {
    const { request } = this.deps;
    const room = this.rooms.get(roomId);
    if (!room || room.joining || this.deps.connection() !== my || !this.deps.isConnected()) return;
    room.joining = true;
    clearTimeout(room.retry);
    room.retry = undefined;
    const since = recover ? this.tracker.cursor(roomId) : undefined;
    // Live messages of the room arrive as soon as the server has joined the socket, maybe
    // before the answer: hold them and merge them with it, in order.
    this.tracker.hold(roomId);
    try {
      const result = await request("chat:join", since ? { roomId, since } : { roomId });
      let fetched = [...result.messages];
      let recovered: boolean;
      if (since !== undefined) {
        recovered = result.recovered !== false;
        let hasMore = result.hasMore;
        for (let page = 0; recovered && hasMore && page < MAX_RECOVERY_PAGES; page++) {
          const last = fetched[fetched.length - 1];
          if (!last) break;
          const next = await request("chat:history", { roomId, after: last.id, limit: HISTORY_PAGE_SIZE });
          fetched.push(...next.messages);
          hasMore = next.hasMore;
        }
        if (recovered && hasMore) {
          // Too much to catch up: start over from the newest page, and say so.
          recovered = false;
          fetched = (await request("chat:history", { roomId })).messages;
        }
      } else {
        recovered = !(recover && result.hasMore);
      }
      room.joining = false;
      if (this.rooms.get(roomId) !== room) {
        this.tracker.release(roomId);
        return;
      }
      room.joinedOn = my;
      const wasJoined = room.everJoined;
      room.everJoined = true;
      const held = this.tracker.release(roomId);
      const page = sortUniqueById([...fetched, ...held]);
      const fresh = this.tracker.acceptAll(page);
      const answer: ChatJoinResult = { ...result, messages: page };
      for (const waiter of room.waiters.splice(0)) waiter.resolve(answer);
      if (recover && wasJoined) {
        this.deliver(fresh);
        this.deps.onRejoin({
          roomId,
          recovered,
          messages: recovered ? fresh : page,
          online: result.online,
          lastReadId: result.lastReadId,
          unread: result.unread,
        });
      }
      this.deps.onReady(roomId);
    } catch (err) {
      room.joining = false;
      const error = toRealtimeError(err);
      const held = this.tracker.release(roomId);
      if (room.everJoined) this.deliver(this.tracker.acceptAll(held));
      if (this.rooms.get(roomId) !== room || this.closed) return;
      // Dropped connection: the next connect joins again.
      if (error.code === "DISCONNECTED") return;
      if (isRetryable(error)) {
        const delay = error.retryAfterMs ?? backoffDelayMs(1, { minMs: 1000, maxMs: 5000 });
        room.retry = setTimeout(() => void this.joinRoom(roomId, my, recover), delay);
        return;
      }
      // Refused for good (e.g. FORBIDDEN after a token change): forget the room.
      this.rooms.delete(roomId);
      this.tracker.forget(roomId);
      this.deps.onRefused(roomId, error);
      for (const waiter of room.waiters.splice(0)) waiter.reject(error);
      if (room.everJoined) this.deps.onError(error);
    }
  }

  private async catchUp(roomId: string, after: string, my: number): Promise<void> {
    let cursor = after;
    try {
      for (let page = 0; page < MAX_RECOVERY_PAGES; page++) {
        if (this.deps.connection() !== my || !this.rooms.has(roomId)) return;
        const next = await this.deps.request("chat:history", {
          roomId,
          after: cursor,
          limit: HISTORY_PAGE_SIZE,
        });
        this.deliver(this.tracker.acceptAll(next.messages));
        const last = next.messages[next.messages.length - 1];
        if (!next.hasMore || !last) return;
        cursor = last.id;
      }
      // More than the client pages through: start over from the newest page, as a rejoin would.
      await this.joinRoom(roomId, my, true);
    } catch (err) {
      const error = toRealtimeError(err);
      // A dropped connection rejoins with `since` on the next connect anyway.
      if (error.code !== "DISCONNECTED") this.deps.onError(error);
    }
  }
}
