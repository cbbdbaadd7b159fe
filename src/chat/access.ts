import { tokenDeadlineMs, type VerifiedRoomToken } from "../auth/verifier.js";
import { AppError, type AuthenticatedUser } from "../protocol/index.js";
import type { AccessHook } from "./access-hook.js";
import { claimMatches, RESERVED_ROOM_KINDS, roomAccess, roomKind } from "./policy.js";
import type { RoomConnection } from "./service.js";

/** Why a connection lost a room it had joined. */
export type LostReason = "expired" | "denied";

/**
 * Who may be in a room beyond what the token's claims say: the claims first (policy.ts,
 * which alone decides the server-managed kinds and DMs), then a room token the connection
 * presented with `chat:join` (until its `exp`), then the backend's access hook (cached).
 */
export interface RoomGate {
  /**
   * A `chat:join`: resolves when the user may join, else FORBIDDEN (or the room token's
   * TOKEN_EXPIRED / TOKEN_INVALID, or UNAVAILABLE from the hook). A room token is read only
   * when the claims do not grant the room, and then decides alone; a valid one is kept for
   * the connection until its `exp` (a later one extends it).
   */
  admit(conn: RoomConnection, user: AuthenticatedUser, roomId: string, token?: string): Promise<void>;
  /**
   * Sends, typing, history and read positions: the claims, the connection's room token or
   * the hook's (cached) answer. A refusal by the hook also takes the connection out of
   * the room (`onLost` "denied").
   */
  check(conn: RoomConnection | undefined, user: AuthenticatedUser, roomId: string): Promise<void>;
  /**
   * Whether the user may read the room now, without taking anyone out of it: for listing
   * (an unreachable hook: no, so nothing is shown that may not be).
   */
  allows(conn: RoomConnection | undefined, user: AuthenticatedUser, roomId: string): Promise<boolean>;
  /** Whether the connection may stay in the room after its user changed (an unreachable hook: yes). */
  stillGranted(conn: RoomConnection, user: AuthenticatedUser, roomId: string): Promise<boolean>;
  /** The connection left the room (or, without a room, went away): its room tokens are dropped. */
  forget(connId: string, roomId?: string): void;
  stop(): void;
}

export interface RoomGateDeps {
  /** The same verifier as connection tokens (keys, algorithms, issuer, audience, revocation). */
  verifyRoomToken(token: string): Promise<VerifiedRoomToken>;
  /** ROOM_ACCESS_URL's hook; none: claims and room tokens only. */
  hook?: AccessHook;
  /** JWT_CLOCK_TOLERANCE_SEC: a room token lasts until `exp` plus this, as a connection token does. */
  clockToleranceSec: number;
  /**
   * The connection no longer has the room: its room token expired (and nothing else grants
   * the room), or the hook refused it on a re-check. The feature makes it leave.
   */
  onLost(conn: RoomConnection, roomId: string, reason: LostReason): void;
  now?: () => number;
}

/** setTimeout's longest delay; a later deadline is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Grant {
  conn: RoomConnection;
  deadlineMs: number;
  timer: NodeJS.Timeout;
}

export function createRoomGate(deps: RoomGateDeps): RoomGate {
  const now = deps.now ?? Date.now;
  // Connection id -> room id -> the room token's grant.
  const grants = new Map<string, Map<string, Grant>>();

  /** The claims' verdict where it is final (granted, or a kind they alone decide); else undefined. */
  const byClaims = (user: AuthenticatedUser, roomId: string) => {
    const access = roomAccess(user, roomId);
    const kind = roomKind(roomId);
    return access.allowed || RESERVED_ROOM_KINDS.has(kind) || kind === "dm" ? access : undefined;
  };

  const liveGrant = (connId: string, roomId: string): boolean => {
    const grant = grants.get(connId)?.get(roomId);
    return grant !== undefined && grant.deadlineMs > now();
  };

  const drop = (connId: string, roomId: string) => {
    const rooms = grants.get(connId);
    const grant = rooms?.get(roomId);
    if (!rooms || !grant) return;
    clearTimeout(grant.timer);
    rooms.delete(roomId);
    if (rooms.size === 0) grants.delete(connId);
  };

  const arm = (connId: string, roomId: string, grant: Omit<Grant, "timer">): Grant => {
    const timer = setTimeout(
      () => {
        const current = grants.get(connId)?.get(roomId);
        if (!current || current.timer !== timer) return;
        if (current.deadlineMs > now()) {
          grants.get(connId)?.set(roomId, arm(connId, roomId, current));
          return;
        }
        drop(connId, roomId);
        // The claims (after an auth:refresh) or the hook may still grant the room.
        void stillGranted(current.conn, current.conn.data.user, roomId).then((granted) => {
          if (!granted && current.conn.connected) deps.onLost(current.conn, roomId, "expired");
        });
      },
      Math.min(MAX_TIMER_MS, Math.max(0, grant.deadlineMs - now())),
    );
    timer.unref();
    return { ...grant, timer };
  };

  const grantFromToken = async (
    conn: RoomConnection,
    user: AuthenticatedUser,
    roomId: string,
    token: string,
  ): Promise<void> => {
    const verified = await deps.verifyRoomToken(token);
    if (verified.user.id !== user.id)
      throw new AppError("FORBIDDEN", "the room token belongs to another user");
    if (!claimMatches(verified.room, roomId))
      throw new AppError("FORBIDDEN", "the room token is for another room");
    const deadlineMs = tokenDeadlineMs(verified.exp, deps.clockToleranceSec);
    const prior = grants.get(conn.id)?.get(roomId);
    // A refresh extends the grant; an older token presented later never shortens it.
    if (prior && prior.deadlineMs >= deadlineMs) return;
    if (prior) clearTimeout(prior.timer);
    const rooms = grants.get(conn.id) ?? new Map<string, Grant>();
    grants.set(conn.id, rooms);
    rooms.set(roomId, arm(conn.id, roomId, { conn, deadlineMs }));
  };

  const byHook = async (
    conn: RoomConnection | undefined,
    user: AuthenticatedUser,
    roomId: string,
    recheck: boolean,
  ): Promise<void> => {
    if (!deps.hook) throw new AppError("FORBIDDEN", "the token does not grant this room");
    if (await deps.hook.allows(user.id, roomId)) return;
    if (recheck && conn) deps.onLost(conn, roomId, "denied");
    throw new AppError("FORBIDDEN", "the backend does not grant this room");
  };

  const decide = async (
    conn: RoomConnection | undefined,
    user: AuthenticatedUser,
    roomId: string,
    recheck: boolean,
  ): Promise<void> => {
    const decided = byClaims(user, roomId);
    if (decided) {
      if (!decided.allowed) throw new AppError("FORBIDDEN", decided.reason);
      return;
    }
    if (conn && liveGrant(conn.id, roomId)) return;
    await byHook(conn, user, roomId, recheck);
  };

  async function stillGranted(conn: RoomConnection, user: AuthenticatedUser, roomId: string) {
    try {
      await decide(conn, user, roomId, false);
      return true;
    } catch (err) {
      return !(err instanceof AppError && err.code === "FORBIDDEN");
    }
  }

  return {
    async admit(conn, user, roomId, token) {
      const decided = byClaims(user, roomId);
      if (decided) {
        if (!decided.allowed) throw new AppError("FORBIDDEN", decided.reason);
        return;
      }
      if (token !== undefined) return grantFromToken(conn, user, roomId, token);
      // A rejoin (a recovery) within the room token's life needs no token again.
      if (liveGrant(conn.id, roomId)) return;
      await byHook(conn, user, roomId, false);
    },
    check: (conn, user, roomId) => decide(conn, user, roomId, true),
    allows: (conn, user, roomId) =>
      decide(conn, user, roomId, false).then(
        () => true,
        () => false,
      ),
    stillGranted,
    forget(connId, roomId) {
      if (roomId !== undefined) {
        drop(connId, roomId);
        return;
      }
      for (const room of [...(grants.get(connId)?.keys() ?? [])]) drop(connId, room);
    },
    stop() {
      for (const connId of [...grants.keys()]) this.forget(connId);
    },
  };
}
