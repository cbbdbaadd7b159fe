import type { Logger } from "../infra/logger.js";
import {
  AppError,
  type AuthenticatedUser,
  type ChatRoomActivity,
  type ChatRoomsPayload,
  type ChatRoomsResult,
} from "../protocol/index.js";
import type { MessageStore, RoomSummary } from "./message-store.js";
import { roomAccess } from "./policy.js";
import type { RoomListStore } from "./room-list-store.js";
import type { RoomConnection } from "./service.js";

/** Hands a `chat:room` to the users' sockets, except those that follow the room live (the socket layer). */
export interface RoomAnnouncer {
  announce(userIds: string[], activity: ChatRoomActivity): void;
}

/** At most one `chat:room` per room per this window, across instances; the last one trails. */
export const ANNOUNCE_WINDOW_MS = 1000;
export const ROOMS_DEFAULT_LIMIT = 20;
/** Failed announcement attempts in a row after which a room waits for its next message. */
const MAX_FAILED_CYCLES = 3;

export interface RoomList {
  /** The user joined the room: their list holds it from now on (never rejects: logged). */
  joined(userId: string, roomId: string): Promise<void>;
  forget(userId: string, roomId: string): Promise<void>;
  /** The user's rooms, newest activity first, paged; `conn`: whose room tokens count. */
  list(user: AuthenticatedUser, payload: ChatRoomsPayload, conn?: RoomConnection): Promise<ChatRoomsResult>;
  /** A message was stored in the room: announce it to the room's followers (coalesced). */
  stored(roomId: string): void;
  stop(): void;
}

type Listed = { roomId: string; summary: RoomSummary };
type Cycle = { again: boolean; reading: boolean; timer?: NodeJS.Timeout };

/** Newest activity first; rooms of the same time by id, so a cursor has one place. */
const order = (a: Listed, b: Listed): number =>
  b.summary.lastActivityAt - a.summary.lastActivityAt ||
  (a.roomId < b.roomId ? -1 : a.roomId > b.roomId ? 1 : 0);

function parseCursor(cursor: string): { at: number; roomId: string } {
  const colon = cursor.indexOf(":");
  return { at: Number(cursor.slice(0, colon)), roomId: cursor.slice(colon + 1) };
}

/**
 * The room list: which rooms each user joined (until `chat:leave {forget: true}` or the
 * room's log expires), each with its last message and the user's unread count, and the
 * `chat:room` announcements that keep a connected user's list current.
 */
export function createRoomList(deps: {
  store: RoomListStore;
  messages: Pick<MessageStore, "summary" | "readState">;
  announcer: RoomAnnouncer;
  now: () => number;
  logger: Logger;
  /**
   * Whether the user may read the room now (the claims, the connection's room tokens, the
   * access hook); the claims alone when not given.
   */
  granted?: (user: AuthenticatedUser, roomId: string, conn?: RoomConnection) => Promise<boolean>;
}): RoomList {
  const { store, messages } = deps;
  const granted =
    deps.granted ?? (async (user: AuthenticatedUser, roomId: string) => roomAccess(user, roomId).allowed);
  const logger = deps.logger.child({ module: "room-list" });
  /**
   * Rooms with an announcement in progress here. `reading`: its read of the room has begun,
   * so a message stored now may be missed by it: `again` asks for the next window's.
   */
  const busy = new Map<string, Cycle>();
  let stopped = false;

  const announce = async (roomId: string, state: Cycle) => {
    state.reading = true;
    const [summary, followers] = await Promise.all([messages.summary(roomId), store.followers(roomId)]);
    if (!summary || followers.length === 0) return;
    deps.announcer.announce(followers, {
      roomId,
      epoch: summary.epoch,
      seq: summary.seq,
      lastActivityAt: summary.lastActivityAt,
    });
  };

  /**
   * Announce now when the room's window is free; otherwise claim it again once it lapses,
   * until this instance holds it. (Giving up when another instance got the window first
   * would be enough in theory, its read coming after this message; but a timer may fire
   * a moment before Redis lets the key go, and then nobody would announce the message.)
   */
  const cycle = async (roomId: string, state: Cycle) => {
    let wait = await store.claimAnnouncement(roomId, ANNOUNCE_WINDOW_MS);
    while (wait > 0) {
      await new Promise<void>((resolve) => {
        state.timer = setTimeout(resolve, wait);
      });
      state.timer = undefined;
      if (stopped) return;
      wait = await store.claimAnnouncement(roomId, ANNOUNCE_WINDOW_MS);
    }
    await announce(roomId, state);
  };

  const run = (roomId: string, failures = 0) => {
    const state: Cycle = { again: false, reading: false };
    busy.set(roomId, state);
    cycle(roomId, state).then(
      () => {
        busy.delete(roomId);
        if (state.again && !stopped) run(roomId);
      },
      (err: unknown) => {
        logger.warn({ roomId, err: (err as Error).message }, "chat:room announcement failed");
        // Tried again a window later (a few times: Redis may be down), so the newest message
        // is announced even when no other comes; a message meanwhile joins that attempt.
        if (stopped || failures >= MAX_FAILED_CYCLES) {
          busy.delete(roomId);
          return;
        }
        state.timer = setTimeout(() => {
          busy.delete(roomId);
          if (!stopped) run(roomId, failures + 1);
        }, ANNOUNCE_WINDOW_MS);
      },
    );
  };

  return {
    async joined(userId, roomId) {
      // The join stands without it: the list catches up at the room's next join.
      try {
        await store.remember(userId, roomId, deps.now());
      } catch (err) {
        logger.warn({ userId, roomId, err: (err as Error).message }, "room list not updated");
      }
    },

    forget: (userId, roomId) => store.forget(userId, roomId),

    async list(user, { limit, cursor }, conn) {
      const after = cursor === undefined ? undefined : parseCursor(cursor);
      if (after && !Number.isSafeInteger(after.at)) {
        throw new AppError("INVALID_PAYLOAD", "cursor is not one chat:rooms gave", {
          fields: [{ path: "cursor", message: "must be a cursor from chat:rooms" }],
        });
      }
      // A token that no longer grants a room hides it; the list keeps it for a token that does.
      const kept = await store.rooms(user.id);
      const allowed = await Promise.all(kept.map((id) => granted(user, id, conn)));
      const ids = kept.filter((_, i) => allowed[i]);
      const summaries = await Promise.all(ids.map((id) => messages.summary(id)));
      const listed: Listed[] = [];
      ids.forEach((roomId, i) => {
        const summary = summaries[i];
        if (summary) listed.push({ roomId, summary });
        // The room's log expired: so does its place in the list.
        else store.forget(user.id, roomId).catch(() => {});
      });
      listed.sort(order);
      const start =
        after === undefined
          ? 0
          : listed.findIndex(
              (l) =>
                order(l, { roomId: after.roomId, summary: { lastActivityAt: after.at } as RoomSummary }) > 0,
            );
      const from = start < 0 ? listed.length : start;
      const size = limit ?? ROOMS_DEFAULT_LIMIT;
      const page = listed.slice(from, from + size);
      const reads = await Promise.all(page.map((l) => messages.readState(l.roomId, user.id)));
      const last = page[page.length - 1];
      return {
        rooms: page.map(({ roomId, summary }, i) => ({
          roomId,
          epoch: summary.epoch,
          seq: summary.seq,
          lastActivityAt: summary.lastActivityAt,
          lastMessage: summary.lastMessage ?? null,
          lastReadId: reads[i]?.lastReadId ?? null,
          unread: reads[i]?.unread ?? 0,
          mentions: reads[i]?.mentions ?? 0,
        })),
        cursor: last && from + size < listed.length ? `${last.summary.lastActivityAt}:${last.roomId}` : null,
      };
    },

    stored(roomId) {
      if (stopped) return;
      const state = busy.get(roomId);
      // An announcement that has not begun reading the room will read it after this message.
      if (state) state.again ||= state.reading;
      else run(roomId);
    },

    stop() {
      stopped = true;
      for (const state of busy.values()) if (state.timer) clearTimeout(state.timer);
      busy.clear();
    },
  };
}
