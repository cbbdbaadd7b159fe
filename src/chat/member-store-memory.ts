import type { OutboxWriter } from "../webhooks/outbox.js";
import type { MemberChange, MemberStore, MemberSync, RefreshResult } from "./member-store.js";

/** One process is the whole cluster here: the local socket counts are the truth. */
export function createMemoryMemberStore(options: { outbox?: OutboxWriter } = {}): MemberStore {
  const emit = (type: "room.occupied" | "room.vacated", roomId: string, userId: string) => {
    if (options.outbox?.wants(type)) void options.outbox.append(type, JSON.stringify({ roomId, userId }));
  };
  const rooms = new Map<string, Map<string, number>>();

  const online = (roomId: string): string[] => [...(rooms.get(roomId)?.keys() ?? [])];

  const set = (roomId: string, userId: string, count: number): MemberChange | undefined => {
    let users = rooms.get(roomId);
    const before = users?.has(userId) ?? false;
    if (count > 0) {
      if (!users) {
        users = new Map();
        rooms.set(roomId, users);
        emit("room.occupied", roomId, userId);
      }
      users.set(userId, count);
    } else if (users) {
      users.delete(userId);
      if (users.size === 0) {
        rooms.delete(roomId);
        emit("room.vacated", roomId, userId);
      }
    }
    if (before === count > 0) return undefined;
    return { roomId, userId, event: before ? "leave" : "join" };
  };

  return {
    async update(roomId, userId, localSockets, withOnline = false): Promise<MemberSync> {
      const change = set(roomId, userId, localSockets);
      return { changes: change ? [change] : [], ...(withOnline ? { online: online(roomId) } : {}) };
    },
    async online(roomId) {
      return { changes: [], online: online(roomId) };
    },
    async release() {},
    // One process: no other instance to die.
    async reap() {
      return { changes: [], done: true };
    },
    async refresh(roomId, local): Promise<RefreshResult> {
      const changes: MemberChange[] = [];
      if (local) {
        for (const userId of online(roomId)) {
          if (!local.has(userId)) {
            const change = set(roomId, userId, 0);
            if (change) changes.push(change);
          }
        }
        for (const [userId, count] of local) {
          const change = set(roomId, userId, count);
          if (change) changes.push(change);
        }
      }
      return { changes, stale: false };
    },
  };
}
