/**
 * This instance's own chat memberships: which sockets of which user sit in which
 * room here. It is the truth each instance reports to the member store, so it must
 * change synchronously with `socket.join` / `socket.leave`.
 */
export class LocalRooms {
  private readonly byRoom = new Map<string, Map<string, Set<string>>>();
  private readonly byConnection = new Map<string, Set<string>>();

  has(roomId: string, connectionId: string): boolean {
    return this.byConnection.get(connectionId)?.has(roomId) ?? false;
  }

  /** Returns the user's socket count in the room here, after adding. */
  add(roomId: string, userId: string, connectionId: string): number {
    let users = this.byRoom.get(roomId);
    if (!users) {
      users = new Map();
      this.byRoom.set(roomId, users);
    }
    let connections = users.get(userId);
    if (!connections) {
      connections = new Set();
      users.set(userId, connections);
    }
    connections.add(connectionId);
    let rooms = this.byConnection.get(connectionId);
    if (!rooms) {
      rooms = new Set();
      this.byConnection.set(connectionId, rooms);
    }
    rooms.add(roomId);
    return connections.size;
  }

  /** Returns the user's socket count in the room here, after removing. */
  remove(roomId: string, userId: string, connectionId: string): number {
    const rooms = this.byConnection.get(connectionId);
    if (rooms) {
      rooms.delete(roomId);
      if (rooms.size === 0) this.byConnection.delete(connectionId);
    }
    const users = this.byRoom.get(roomId);
    const connections = users?.get(userId);
    if (!users || !connections) return 0;
    connections.delete(connectionId);
    if (connections.size > 0) return connections.size;
    users.delete(userId);
    if (users.size === 0) this.byRoom.delete(roomId);
    return 0;
  }

  /** Whether any connection here is a member of the room. */
  hasRoom(roomId: string): boolean {
    return this.byRoom.has(roomId);
  }

  roomsOf(connectionId: string): string[] {
    return [...(this.byConnection.get(connectionId) ?? [])];
  }

  rooms(): string[] {
    return [...this.byRoom.keys()];
  }

  /** Socket count per user in the room here. */
  counts(roomId: string): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [userId, connections] of this.byRoom.get(roomId) ?? []) counts.set(userId, connections.size);
    return counts;
  }
}
