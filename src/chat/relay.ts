import type { Logger } from "../infra/logger.js";
import type { Message } from "../protocol/index.js";
import type { RoomEvent, RoomFeed } from "./feed.js";
import type { MemberEvent } from "./member-store.js";
import type { LogPage, RoomHead } from "./message-store.js";

/** Hands a room's events to this instance's sockets that follow it live (the socket layer). */
export interface LocalDelivery {
  message(message: Message): void;
  typing(roomId: string, userId: string, typing: boolean): void;
  read(roomId: string, userId: string, messageId: string): void;
  member(roomId: string, userId: string, event: MemberEvent): void;
}

/** What the relay reads of a room's log to fill a hole. */
export interface RelayLog {
  head(roomId: string): Promise<RoomHead>;
  history(roomId: string, query: { afterSeq: number; limit: number }): Promise<LogPage>;
  /** Raise the room's last seq to at least `seq` (the log lost messages that were relayed). */
  fence(roomId: string, seq: number): Promise<void>;
}

export interface RoomRelay {
  /**
   * Relay the room to this instance's sockets from now on. Resolves once the room's feed
   * is subscribed and the relay stands at the log's head; rejects (UNAVAILABLE) otherwise.
   */
  watch(roomId: string): Promise<void>;
  unwatch(roomId: string): void;
  /** The last message handed to local sockets, or undefined while the room is not watched (yet). */
  position(roomId: string): RoomHead | undefined;
  /** Catch up with the log now; resolves once the relay has read it to its end. */
  sync(roomId: string): Promise<void>;
  watched(): number;
}

interface RoomState {
  epoch: string;
  seq: number;
  /** Positioned at the log's head: live messages are handed on. */
  ready: boolean;
  init: Promise<void>;
  /** Something newer than `seq` was seen, or may have been missed: read the log again. */
  pending: boolean;
  filling: boolean;
  synced: (() => void)[];
}

/** Messages read per round trip while filling a hole. */
const FILL_PAGE = 200;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

/**
 * The one path a chat message takes to this instance's sockets: from the room's feed, in
 * log order. The relay remembers the last seq it handed on per room; a message beyond the
 * next one (a hole), a feed that was interrupted, or a new epoch makes it read the missing
 * range from the log and hand it on in order before anything newer. So every socket that
 * follows a room receives its messages contiguous and in order, whichever instance stored
 * them. (Only when the log no longer holds the missing range, after an outage longer than
 * the retained history, does a socket see a jump in seq.)
 */
export function createRoomRelay(deps: {
  feed: RoomFeed;
  log: RelayLog;
  deliver: LocalDelivery;
  logger: Logger;
}): RoomRelay {
  const { feed, log, deliver } = deps;
  const logger = deps.logger.child({ module: "relay" });
  const rooms = new Map<string, RoomState>();

  const current = (roomId: string, st: RoomState) => rooms.get(roomId) === st;

  const handOn = (st: RoomState, message: Message) => {
    st.seq = message.seq;
    deliver.message(message);
  };

  const endFill = (st: RoomState) => {
    st.filling = false;
    for (const resolve of st.synced.splice(0)) resolve();
  };

  const fill = async (roomId: string, st: RoomState): Promise<void> => {
    st.filling = true;
    let failures = 0;
    try {
      while (current(roomId, st)) {
        st.pending = false;
        let page: LogPage;
        try {
          page = await log.history(roomId, { afterSeq: st.seq, limit: FILL_PAGE });
          if (page.epoch === st.epoch && page.seq < st.seq) {
            // Redis lost messages this instance already handed on (a failover to a replica
            // that lacked them): make sure their seqs are never given to other messages.
            logger.warn({ roomId, relayed: st.seq, head: page.seq }, "room log went back: fencing it");
            await log.fence(roomId, st.seq);
            st.pending = true;
            continue;
          }
        } catch (err) {
          failures += 1;
          if (failures === 1)
            logger.warn({ roomId, err: (err as Error).message }, "room catch-up failed, retrying");
          st.pending = true;
          await new Promise((r) => setTimeout(r, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** failures)));
          continue;
        }
        failures = 0;
        if (!current(roomId, st)) return;
        if (page.epoch !== st.epoch) {
          // The log started over: its first messages are news to every socket here.
          logger.warn({ roomId, from: st.epoch, to: page.epoch }, "room log has a new epoch");
          st.epoch = page.epoch;
          st.seq = 0;
          st.pending = true;
          continue;
        }
        for (const message of page.messages) if (message.seq > st.seq) handOn(st, message);
        if (!page.hasMore && !st.pending) return;
      }
    } finally {
      endFill(st);
    }
  };

  const startFill = (roomId: string, st: RoomState) => {
    st.pending = true;
    if (st.filling || !st.ready) return;
    fill(roomId, st).catch((err: unknown) => logger.error({ err, roomId }, "room catch-up crashed"));
  };

  const onMessage = (message: Message) => {
    const st = rooms.get(message.roomId);
    if (!st) return;
    if (!st.ready || message.epoch !== st.epoch) {
      startFill(message.roomId, st);
      return;
    }
    if (message.seq <= st.seq) return;
    if (!st.filling && message.seq === st.seq + 1) handOn(st, message);
    else startFill(message.roomId, st);
  };

  const onEvent = (event: RoomEvent) => {
    if (event.kind === "message") {
      onMessage(event.message);
      return;
    }
    if (!rooms.get(event.roomId)?.ready) return;
    if (event.kind === "typing") deliver.typing(event.roomId, event.userId, event.typing);
    else if (event.kind === "read") deliver.read(event.roomId, event.userId, event.messageId);
    else deliver.member(event.roomId, event.userId, event.event);
  };

  feed.onEvent(onEvent);
  // Whatever was published while the subscription was down is in the log: read it.
  feed.onRestored(() => {
    for (const [roomId, st] of rooms) startFill(roomId, st);
  });

  const initialize = async (roomId: string, st: RoomState): Promise<void> => {
    try {
      await feed.subscribe(roomId);
      const head = await log.head(roomId);
      if (!current(roomId, st)) return;
      st.epoch = head.epoch;
      st.seq = head.seq;
      st.ready = true;
      // Messages that arrived while positioning are beyond the head or already in it.
      if (st.pending) startFill(roomId, st);
    } catch (err) {
      if (current(roomId, st)) {
        rooms.delete(roomId);
        feed.unsubscribe(roomId);
      }
      throw err;
    }
  };

  return {
    watch(roomId) {
      const existing = rooms.get(roomId);
      if (existing) return existing.init;
      const st: RoomState = {
        epoch: "",
        seq: 0,
        ready: false,
        init: Promise.resolve(),
        pending: false,
        filling: false,
        synced: [],
      };
      rooms.set(roomId, st);
      st.init = initialize(roomId, st);
      return st.init;
    },

    unwatch(roomId) {
      const st = rooms.get(roomId);
      if (!st) return;
      rooms.delete(roomId);
      endFill(st);
      feed.unsubscribe(roomId);
    },

    position(roomId) {
      const st = rooms.get(roomId);
      return st?.ready ? { epoch: st.epoch, seq: st.seq } : undefined;
    },

    sync(roomId) {
      const st = rooms.get(roomId);
      if (!st?.ready) return Promise.resolve();
      const done = new Promise<void>((resolve) => st.synced.push(resolve));
      startFill(roomId, st);
      return done;
    },

    watched: () => rooms.size,
  };
}
