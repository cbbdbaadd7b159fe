import { AppError, type AuthenticatedUser, ROOM_ID_PATTERN, USER_ID_PATTERN } from "../protocol/index.js";

/**
 * Who may read and write which chat room. The one place this is decided: the socket
 * handlers, history and the internal API all go through it.
 */

/** Room kinds the server manages itself (`user:<id>`, `presence:<id>`): never chat rooms. */
export const RESERVED_ROOM_KINDS: ReadonlySet<string> = new Set(["user", "presence"]);

export function roomKind(roomId: string): string {
  return roomId.slice(0, roomId.indexOf(":"));
}

/** INVALID_PAYLOAD unless `roomId` has the `kind:id` shape (for callers that skip the schemas). */
export function assertRoomId(roomId: string): void {
  if (typeof roomId !== "string" || !ROOM_ID_PATTERN.test(roomId)) {
    throw new AppError("INVALID_PAYLOAD", "roomId must be kind:id", {
      fields: [{ path: "roomId", message: "must be kind:id" }],
    });
  }
}

/**
 * `dm:<a>:<b>` belongs to a and b, written in sorted order so both sides name the same
 * room. User ids may contain `:`, so every split is tried; an id that splits into two
 * sorted pairs of user ids (`dm:org:zed:x` is org+zed:x and org:zed+x) belongs to nobody.
 */
function isDmParticipant(userId: string, roomId: string): boolean {
  const pair = roomId.slice(3);
  let participants: [string, string] | undefined;
  for (let at = pair.indexOf(":"); at >= 0; at = pair.indexOf(":", at + 1)) {
    const a = pair.slice(0, at);
    const b = pair.slice(at + 1);
    if (!USER_ID_PATTERN.test(a) || !USER_ID_PATTERN.test(b) || a > b) continue;
    if (participants) return false;
    participants = [a, b];
  }
  return participants !== undefined && (participants[0] === userId || participants[1] === userId);
}

/** A `rooms` claim entry: an exact room id, or a prefix ending in `*` (`team:*`). */
export function claimMatches(claim: string, roomId: string): boolean {
  if (claim.endsWith("*")) return roomId.startsWith(claim.slice(0, -1));
  return claim === roomId;
}

/** FORBIDDEN for the server-managed kinds, whoever asks (admins and the internal API too). */
export function assertNotReserved(roomId: string): void {
  const kind = roomKind(roomId);
  if (RESERVED_ROOM_KINDS.has(kind))
    throw new AppError("FORBIDDEN", `${kind}: rooms are managed by the server`);
}

export type RoomAccess = { allowed: true } | { allowed: false; reason: string };

export function roomAccess(user: AuthenticatedUser, roomId: string): RoomAccess {
  const kind = roomKind(roomId);
  if (RESERVED_ROOM_KINDS.has(kind)) {
    return { allowed: false, reason: `${kind}: rooms are managed by the server` };
  }
  // DMs are private to their two participants: neither claims nor the admin role open them.
  if (kind === "dm") {
    return isDmParticipant(user.id, roomId)
      ? { allowed: true }
      : {
          allowed: false,
          reason: "dm rooms are open to their two participants only (dm:<a>:<b>, ids sorted)",
        };
  }
  if (user.roles?.includes("admin")) return { allowed: true };
  if (user.rooms?.some((claim) => claimMatches(claim, roomId))) return { allowed: true };
  return { allowed: false, reason: "the token does not grant this room" };
}

/** FORBIDDEN unless the user may read and write the room. */
export function assertRoomAccess(user: AuthenticatedUser, roomId: string): void {
  const access = roomAccess(user, roomId);
  if (!access.allowed) throw new AppError("FORBIDDEN", access.reason);
}
