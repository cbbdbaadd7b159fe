/**
 * The rooms each user has joined, remembered across connections, and who follows each room
 * (the users whose lists show it): the room list's store. Two implementations (Redis,
 * in-memory), held to one contract suite (test/chat/room-list-store.contract.test.ts).
 */
export interface RoomListStore {
  /**
   * Remember that the user joined the room (again: its join time moves forwards). Beyond
   * `MAX_REMEMBERED_ROOMS` the user's longest-unjoined room is forgotten.
   */
  remember(userId: string, roomId: string, at: number): Promise<void>;
  /** Stop listing the room for the user. */
  forget(userId: string, roomId: string): Promise<void>;
  /** The rooms the user's list holds, most recently joined first. */
  rooms(userId: string): Promise<string[]>;
  /** Users whose lists hold the room. */
  followers(roomId: string): Promise<string[]>;
  /**
   * Claim the room's `chat:room` announcement for the next `windowMs`, across instances:
   * 0 when this caller got it, otherwise the ms before the current claim lapses.
   */
  claimAnnouncement(roomId: string, windowMs: number): Promise<number>;
}

/** Rooms one user's list holds at most. */
export const MAX_REMEMBERED_ROOMS = 500;
