import type { Message } from "./protocol.js";

/** Messages the model keeps per room (the oldest go first). */
export const MODEL_MESSAGES_PER_ROOM = 500;

/**
 * The in-memory model of each joined room: its messages, oldest first, with every edit,
 * delete and reaction of the room's log applied. Fed with the entries the client hands to
 * the application (each once, in seq order), so it is exactly the log folded: a message
 * read from the server already has the changes up to its `rev` folded in, and a change is
 * applied only when its seq is above that.
 */
export class RoomModel {
  private readonly rooms = new Map<string, { order: string[]; byId: Map<string, Message> }>();

  constructor(private readonly selfId: () => string | undefined) {}

  /**
   * Take an entry of the room's log. Returns the message it added or changed (a copy the
   * model will not touch again), or undefined when it changed nothing the model holds.
   */
  apply(entry: Message): Message | undefined {
    const room = this.room(entry.roomId);
    if (entry.kind === undefined) {
      if (room.byId.has(entry.id)) return undefined;
      room.byId.set(entry.id, { ...entry });
      // In seq order, wherever it came from (a join's page may follow live entries).
      let at = room.order.length;
      while (at > 0 && (room.byId.get(room.order[at - 1] as string) as Message).seq > entry.seq) at--;
      room.order.splice(at, 0, entry.id);
      if (room.order.length > MODEL_MESSAGES_PER_ROOM) {
        for (const id of room.order.splice(0, room.order.length - MODEL_MESSAGES_PER_ROOM))
          room.byId.delete(id);
      }
      return { ...entry };
    }
    const target = entry.target === undefined ? undefined : room.byId.get(entry.target);
    if (!target || entry.seq <= (target.rev ?? target.seq)) return undefined;
    const next = changed(target, entry);
    room.byId.set(target.id, next);
    return { ...next };
  }

  /** The room's messages as they stand, oldest first. */
  messages(roomId: string): Message[] {
    const room = this.rooms.get(roomId);
    return room ? room.order.map((id) => ({ ...(room.byId.get(id) as Message) })) : [];
  }

  /** Whether the current user gave this reaction (only known for the reactions the model saw). */
  reacted(message: Message, emoji: string): boolean {
    const me = this.selfId();
    return (
      me !== undefined && (message.reactions?.find((r) => r.emoji === emoji)?.users.includes(me) ?? false)
    );
  }

  /** Forget what the model holds of the room (after a gap, or when it is left). */
  reset(roomId: string): void {
    this.rooms.delete(roomId);
  }

  private room(roomId: string) {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = { order: [], byId: new Map() };
      this.rooms.set(roomId, room);
    }
    return room;
  }
}

/** The message after one change entry: what the server folds in, the same way. */
export function changed(target: Message, entry: Message): Message {
  const next: Message = { ...target, rev: entry.seq };
  if (entry.kind === "delete") {
    next.text = "";
    next.deleted = true;
    delete next.mentions;
    delete next.reactions;
    delete next.editedAt;
    return next;
  }
  if (entry.kind === "edit") {
    next.text = entry.text;
    next.editedAt = entry.createdAt;
    return next;
  }
  const emoji = entry.emoji as string;
  const reactions = (target.reactions ?? []).map((r) => ({ ...r, users: [...r.users] }));
  let slot = reactions.find((r) => r.emoji === emoji);
  if (entry.on) {
    if (!slot) {
      slot = { emoji, count: 0, users: [] };
      reactions.push(slot);
    }
    slot.count += 1;
    if (!slot.users.includes(entry.senderId)) slot.users.push(entry.senderId);
  } else if (slot) {
    slot.count = Math.max(0, slot.count - 1);
    slot.users = slot.users.filter((u) => u !== entry.senderId);
  }
  const kept = reactions.filter((r) => r.count > 0);
  if (kept.length > 0) next.reactions = kept;
  else delete next.reactions;
  return next;
}
