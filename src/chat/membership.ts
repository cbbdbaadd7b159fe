import type { Logger } from "../infra/logger.js";
import type { InstanceRegistry } from "../instances/index.js";
import type { RoomEventPublisher } from "./feed.js";
import { LocalRooms } from "./local-rooms.js";
import type { MemberStore, MemberSync } from "./member-store.js";

export interface MembershipDeps {
  store: MemberStore;
  /** Where the room-wide member changes are announced (every instance's sockets in the room). */
  events: RoomEventPublisher;
  logger: Logger;
  /**
   * Entries are held under this instance's registration: rewritten on its heartbeats when
   * they failed or the registration is new, and reaped through it when an instance dies.
   */
  registry: Pick<InstanceRegistry, "join">;
  /** The last connection in the room here left it: nobody here follows the room any more. */
  onRoomEmpty(roomId: string): void;
}

/**
 * A connection entering a room: counted here at once (so `has` is true before any await),
 * written to the member store in the background. The join then either stands (`commit`)
 * or is undone (`cancel`).
 */
export interface RoomEntry {
  /** The connection was in the room here already: nothing is written, the room is only read. */
  readonly rejoin: boolean;
  /** The users in the room, each once, as the store answered the entry. */
  readonly online: Promise<string[]>;
  /** The join stands (call once `online` resolved): announce what the entry changed. */
  commit(): void;
  /** The join failed: count the connection out again and announce only what others caused. */
  cancel(): Promise<void>;
}

/**
 * Who is in which chat room, here and across instances: this instance's connections per
 * room and user (the truth it reports), the member store that collapses devices and
 * instances per user, and the reconciliation between them: on every heartbeat of the
 * instance registry, writes that failed are rewritten (everything, when the registration
 * is new); on its sweeps, dead instances' entries are reaped. The room-wide changes it
 * causes are announced as `member` events, once each.
 */
export interface Membership {
  has(roomId: string, connId: string): boolean;
  /** The rooms the connection is in here. */
  roomsOf(connId: string): string[];
  enter(roomId: string, userId: string, connId: string): RoomEntry;
  /** The connection leaves the room (a no-op when it is not in it). */
  leave(roomId: string, userId: string, connId: string): Promise<void>;
  /** The connection is going away: it leaves every room it is in. */
  disconnect(userId: string, connId: string): Promise<void>;
  /**
   * The room feed was interrupted (Redis restarted or failed over): check this instance's
   * entries in each of its rooms and rewrite those Redis lost.
   */
  verify(): Promise<void>;
  /** Shutting down: leave failed writes and dead instances to the survivors. */
  stop(): void;
  /** The users in the room across instances, each once (the internal API's read side). */
  online(roomId: string): Promise<string[]>;
}

export function createMembership(deps: MembershipDeps): Membership {
  const { store, events, logger: log } = deps;
  const local = new LocalRooms();
  // Rooms whose entries in the member store may disagree with `local` (a write failed):
  // the next heartbeat rewrites them.
  const dirty = new Set<string>();
  /** The registration every local room was last fully written under. */
  let writtenUnder: string | undefined;
  let storeDown = false;
  let stopped = false;

  const announce = (sync: MemberSync, skipUserInRoom?: { roomId: string; userId: string }) => {
    for (const change of sync.changes) {
      if (
        skipUserInRoom &&
        change.roomId === skipUserInRoom.roomId &&
        change.userId === skipUserInRoom.userId
      )
        continue;
      events.publish({ kind: "member", ...change });
    }
  };

  const noteFailure = (roomId: string, err: unknown) => {
    dirty.add(roomId);
    // After stop() the last disconnects race the closing Redis connection: survivors reap what is left.
    if (!storeDown && !stopped) {
      storeDown = true;
      log.warn({ err, roomId }, "room membership update failed; will resync when the store is back");
    }
  };

  /**
   * The store agrees with `local` for a room nobody here is in any more: the registration
   * stops listing it. Decided synchronously, so a later join's listing reaches Redis after.
   */
  const releaseIfEmpty = (roomId: string) => {
    if (local.hasRoom(roomId) || dirty.has(roomId)) return;
    store.release(roomId).catch((err: unknown) => {
      // Only a stale listing: a reaper finds nothing there.
      log.debug({ roomId, err: (err as Error).message }, "room not released from the registration");
    });
  };

  /** Report the user's local socket count; failures only defer the update to the next heartbeat. */
  const write = async (roomId: string, userId: string, count: number): Promise<void> => {
    try {
      announce(await store.update(roomId, userId, count));
      releaseIfEmpty(roomId);
    } catch (err) {
      noteFailure(roomId, err);
    }
  };

  /** Check the room's entries (or, dirty, rewrite them) and rewrite them when Redis lost them. */
  const refreshRoom = async (roomId: string): Promise<void> => {
    // Taken off first: a failure while this runs marks the room again.
    const full = dirty.delete(roomId);
    try {
      let result = await store.refresh(roomId, full ? local.counts(roomId) : undefined);
      if (!full && result.stale && local.hasRoom(roomId)) {
        announce(result);
        result = await store.refresh(roomId, local.counts(roomId));
      }
      announce(result);
      releaseIfEmpty(roomId);
      if (storeDown) {
        storeDown = false;
        log.info("room membership store reachable again");
      }
    } catch (err) {
      noteFailure(roomId, err);
    }
  };

  deps.registry.join({
    async afterBeat(registration) {
      if (stopped) return;
      if (registration !== writtenUnder) {
        // A new registration (the first, or the store lost the previous one): everything
        // here is written under it before the registry lets the old one be reaped.
        for (const roomId of local.rooms()) dirty.add(roomId);
        writtenUnder = registration;
      }
      await Promise.all([...dirty].map(refreshRoom));
    },
    async reap(dead) {
      // A stopped instance leaves the dead to the survivors.
      if (stopped) return false;
      const { changes, done } = await store.reap(dead.registration);
      announce({ changes });
      return done;
    },
  });

  /** This connection is no longer in the room here; returns the user's sockets left in it. */
  const removeLocal = (roomId: string, userId: string, connId: string): number => {
    const remaining = local.remove(roomId, userId, connId);
    if (!local.hasRoom(roomId)) deps.onRoomEmpty(roomId);
    return remaining;
  };

  const enter = (roomId: string, userId: string, connId: string): RoomEntry => {
    const rejoin = local.has(roomId, connId);
    const count = local.add(roomId, userId, connId);
    const written = rejoin ? store.online(roomId) : store.update(roomId, userId, count, true);
    // Known by the time the join decides (it waits for `online`), so `cancel` counts the
    // connection out without yielding first, as a leave would.
    let outcome: PromiseSettledResult<MemberSync> | undefined;
    const settled = written.then(
      (value): PromiseSettledResult<MemberSync> => (outcome = { status: "fulfilled", value }),
      (reason: unknown): PromiseSettledResult<MemberSync> => (outcome = { status: "rejected", reason }),
    );
    return {
      rejoin,
      online: written.then((sync) => sync.online ?? []),
      commit() {
        if (outcome?.status !== "fulfilled") return;
        // A connection that went away meanwhile has already been reported gone: announcing
        // its join now would arrive after that leave and leave the user "present" for good.
        announce(outcome.value, local.has(roomId, connId) ? undefined : { roomId, userId });
      },
      async cancel() {
        if (rejoin) return;
        const remaining = removeLocal(roomId, userId, connId);
        const result = outcome ?? (await settled);
        if (result.status === "rejected") {
          noteFailure(roomId, result.reason);
          return;
        }
        // Announce what others caused (reaped instances), not this entry that is being undone.
        const self = { roomId, userId };
        announce(result.value, self);
        try {
          announce(await store.update(roomId, userId, remaining), self);
          releaseIfEmpty(roomId);
        } catch (err) {
          noteFailure(roomId, err);
        }
      },
    };
  };

  return {
    has: (roomId, connId) => local.has(roomId, connId),
    roomsOf: (connId) => local.roomsOf(connId),
    enter,

    async leave(roomId, userId, connId) {
      if (!local.has(roomId, connId)) return;
      await write(roomId, userId, removeLocal(roomId, userId, connId));
    },

    async disconnect(userId, connId) {
      const rooms = local.roomsOf(connId);
      await Promise.all(rooms.map((roomId) => write(roomId, userId, removeLocal(roomId, userId, connId))));
    },

    async online(roomId) {
      return (await store.online(roomId)).online;
    },
    async verify() {
      await Promise.all(local.rooms().map(refreshRoom));
    },

    stop() {
      stopped = true;
    },
  };
}
