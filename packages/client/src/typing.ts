/**
 * Expires other users' `typing: true` by itself: the server never stores typing state, so
 * a client that crashes mid-word never sends `typing: false`. A message from the user, a
 * `typing: false`, or the connection dropping ends it too.
 */
export class TypingExpiry {
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    private readonly timeoutMs: number,
    private readonly onChange: (event: { roomId: string; userId: string; typing: boolean }) => void,
  ) {}

  private key(roomId: string, userId: string): string {
    return `${roomId}\u0000${userId}`;
  }

  /** A `chat:typing` from the server. */
  update(roomId: string, userId: string, typing: boolean): void {
    const key = this.key(roomId, userId);
    const active = this.timers.has(key);
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    if (typing) {
      this.timers.set(
        key,
        setTimeout(() => {
          this.timers.delete(key);
          this.onChange({ roomId, userId, typing: false });
        }, this.timeoutMs),
      );
      this.onChange({ roomId, userId, typing: true });
    } else if (active) {
      this.onChange({ roomId, userId, typing: false });
    }
  }

  /** The user sent a message: they stopped typing it. */
  stopped(roomId: string, userId: string): void {
    if (this.timers.has(this.key(roomId, userId))) this.update(roomId, userId, false);
  }

  /** End every indicator (disconnect, or leaving the room when `roomId` is given). */
  clear(roomId?: string): void {
    for (const key of [...this.timers.keys()]) {
      const [room = "", userId = ""] = key.split("\u0000");
      if (roomId !== undefined && room !== roomId) continue;
      this.update(room, userId, false);
    }
  }
}
