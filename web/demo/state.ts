import { compareMessageIds, type Message } from "../../packages/client/src/index.js";
import { ROOM_ID_PATTERN } from "../../src/protocol/patterns.js";

/** DOM-free view state of one room. */

export interface PendingMessage {
  clientMsgId: string;
  text: string;
  createdAt: number;
  failed: boolean;
}

export const ROOM_KIND = "demo";

export class RoomModel {
  readonly messages = new Map<string, Message>();
  readonly pending = new Map<string, PendingMessage>();
  readonly online = new Set<string>();
  readonly typing = new Set<string>();
  /** Older messages exist on the server. */
  hasMore = false;
  /** Messages that arrived while another room was shown. */
  unseen = 0;
  /** Why messages are missing (after a gap), shown above the conversation. */
  note = "";
  joined = false;

  constructor(readonly id: string) {}

  /**
   * A message from the server; true when it was not shown yet. Its pending copy goes. A
   * change entry (edit, delete, reaction) is not shown: `update` applies it.
   */
  add(message: Message): boolean {
    if (message.clientMsgId && message.kind === undefined) this.pending.delete(message.clientMsgId);
    if (message.kind !== undefined || this.messages.has(message.id)) return false;
    this.messages.set(message.id, message);
    return true;
  }

  /** A message as it stands after a change (the SDK's room model): true when it is shown. */
  update(message: Message): boolean {
    if (!this.messages.has(message.id)) return false;
    this.messages.set(message.id, message);
    return true;
  }

  /** Start over from a page (a join, or a rejoin that could not recover). */
  replace(messages: readonly Message[], hasMore: boolean): void {
    this.messages.clear();
    for (const message of messages) this.add(message);
    this.hasMore = hasMore;
  }

  /** Older messages, paged back. */
  prepend(messages: readonly Message[], hasMore: boolean): void {
    for (const message of messages) this.add(message);
    this.hasMore = hasMore;
  }

  oldestId(): string | undefined {
    return this.sorted()[0]?.id;
  }

  /** Oldest first; at most `limit`, the newest ones. */
  sorted(limit = Number.POSITIVE_INFINITY): Message[] {
    const all = [...this.messages.values()].sort((a, b) => compareMessageIds(a.id, b.id));
    return all.length > limit ? all.slice(all.length - limit) : all;
  }
}

/** "alice is typing…", "alice and bob are typing…", "3 people are typing…". */
export function typingLine(names: readonly string[]): string {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

/** "lobby" → "demo:lobby"; a full id is kept; undefined when it cannot be a room id. */
export function roomIdFromInput(input: string): string | undefined {
  const trimmed = input.trim().toLowerCase().replace(/^#/, "").replace(/\s+/g, "-");
  if (trimmed === "") return undefined;
  const id = trimmed.includes(":") ? trimmed : `${ROOM_KIND}:${trimmed}`;
  return ROOM_ID_PATTERN.test(id) && id.startsWith(`${ROOM_KIND}:`) ? id : undefined;
}

export function roomLabel(roomId: string): string {
  return `#${roomId.startsWith(`${ROOM_KIND}:`) ? roomId.slice(ROOM_KIND.length + 1) : roomId}`;
}

export function timeOf(epochMs: number): string {
  return new Date(epochMs).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
