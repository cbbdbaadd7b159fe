import type { Message, ReactionCount } from "../protocol/index.js";

/**
 * The state of a message that later entries of its log changed: what history shows of it.
 * Stored per target seq beside the log (the Redis `state` hash holds this JSON, written by
 * the change script; the memory store holds the object), and folded into every entry a
 * read returns. Only messages that were changed have one.
 */
export interface MessageState {
  /** rev: the seq of the last change folded in. */
  v: number;
  /** The latest edit's text and time. */
  x?: string;
  ea?: number;
  /** Deleted. */
  d?: 1;
  /** Reactions in the order of their first use: emoji, then who reacted, oldest first. */
  rx?: [emoji: string, users: string[]][];
}

/** Users listed per reaction on the wire; `count` is always the whole number. */
export const REACTION_USERS_LISTED = 20;

/** The JSON of the Redis state hash (cjson writes an empty array as `{}`). */
export function parseState(json: string | null | undefined | false): MessageState | undefined {
  if (!json) return undefined;
  const { rx, ...rest } = JSON.parse(json) as MessageState & { rx?: unknown };
  if (!Array.isArray(rx) || rx.length === 0) return rest;
  const pairs = (rx as [string, unknown][]).map(
    ([e, u]) => [e, Array.isArray(u) ? (u as string[]) : []] as [string, string[]],
  );
  return { ...rest, rx: pairs };
}

function reactionsOf(state: MessageState): ReactionCount[] {
  const out: ReactionCount[] = [];
  for (const [emoji, users] of state.rx ?? []) {
    if (users.length > 0)
      out.push({ emoji, count: users.length, users: users.slice(0, REACTION_USERS_LISTED) });
  }
  return out;
}

/**
 * An entry as a read shows it. A message gets its state (edits, deletion, reactions, rev);
 * an edit of a message deleted since loses its text too, so a tombstone keeps nothing of
 * what was written. `state` is the state of the entry's subject: the entry itself for a
 * message, its target for a change.
 */
export function folded(entry: Message, state: MessageState | undefined): Message {
  if (!state) return entry;
  if (entry.kind !== undefined) {
    return entry.kind === "edit" && state.d ? { ...entry, text: "" } : entry;
  }
  const out: Message = { ...entry, rev: state.v };
  if (state.d) {
    out.text = "";
    out.deleted = true;
    delete out.mentions;
    return out;
  }
  if (state.x !== undefined) out.text = state.x;
  if (state.ea !== undefined) out.editedAt = state.ea;
  const reactions = reactionsOf(state);
  if (reactions.length > 0) out.reactions = reactions;
  return out;
}

/** The seq of the message whose state an entry shows: its own, or its target's. */
export function subjectSeq(entry: Message): number {
  if (entry.target === undefined) return entry.seq;
  return Number(entry.target.slice(entry.target.indexOf("-") + 1));
}

export type ChangeOutcome =
  | { changed: true; state: MessageState }
  | { changed: false }
  | { refused: "deleted" | "too-many-kinds" };

/**
 * A change applied to a state (the memory store's; the Redis change script does the same
 * in Lua). `seq` is the change entry's own seq, the new rev.
 */
export function applyChange(
  prior: MessageState | undefined,
  change: {
    kind: Message["kind"];
    senderId: string;
    text: string;
    emoji?: string;
    on?: boolean;
    createdAt: number;
  },
  seq: number,
  maxKinds: number,
): ChangeOutcome {
  if (prior?.d) return change.kind === "delete" ? { changed: false } : { refused: "deleted" };
  const state: MessageState = { ...(prior ?? {}), v: seq };
  if (change.kind === "delete") {
    return { changed: true, state: { v: seq, d: 1 } };
  }
  if (change.kind === "edit") {
    state.x = change.text;
    state.ea = change.createdAt;
    return { changed: true, state };
  }
  const rx = (prior?.rx ?? []).map(([e, u]) => [e, [...u]] as [string, string[]]);
  const emoji = change.emoji as string;
  let slot = rx.find(([e]) => e === emoji);
  const has = slot ? slot[1].includes(change.senderId) : false;
  if (has === change.on) return { changed: false };
  if (change.on) {
    if (!slot) {
      if (rx.filter(([, u]) => u.length > 0).length >= maxKinds) return { refused: "too-many-kinds" };
      slot = [emoji, []];
      rx.push(slot);
    }
    slot[1].push(change.senderId);
  } else if (slot) {
    slot[1] = slot[1].filter((u) => u !== change.senderId);
  }
  state.rx = rx.filter(([, u]) => u.length > 0);
  return { changed: true, state };
}
