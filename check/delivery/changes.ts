import type { RoomLog } from "./stream.js";
import type { Violation } from "./verify.js";
import type { WireMessage } from "./wire.js";

/**
 * Edits, deletes and reactions: what every message of a room must look like once the
 * stream's change entries are folded into it, and the comparison of that with what a
 * reader shows (a history page, the SDK's room model).
 */

export interface Folded {
  text: string;
  deleted: boolean;
  /** Emoji in the order of first use (an emptied one goes, and comes back last), with who reacted. */
  reactions: [emoji: string, users: string[]][];
  /** The seq of the last change, if any. */
  rev?: number;
}

/** Users a reaction lists on the wire (the server's REACTION_USERS_LISTED). */
const LISTED = 20;

/** The messages of the log, by id, with every change entry of the log applied in order. */
export function foldLog(log: RoomLog): Map<string, Folded> {
  const out = new Map<string, Folded>();
  for (const m of log.messages) {
    if (m.kind === undefined) {
      out.set(m.id, { text: m.text ?? "", deleted: false, reactions: [] });
      continue;
    }
    const target = m.target === undefined ? undefined : out.get(m.target);
    if (!target) continue;
    target.rev = m.seq;
    if (m.kind === "delete") {
      target.deleted = true;
      target.text = "";
      target.reactions = [];
    } else if (m.kind === "edit") {
      target.text = m.text ?? "";
    } else {
      let slot = target.reactions.find(([e]) => e === m.emoji);
      if (m.on) {
        if (!slot) {
          slot = [m.emoji as string, []];
          target.reactions.push(slot);
        }
        if (!slot[1].includes(m.senderId)) slot[1].push(m.senderId);
      } else if (slot) {
        slot[1] = slot[1].filter((u) => u !== m.senderId);
        if (slot[1].length === 0) target.reactions = target.reactions.filter((r) => r !== slot);
      }
    }
  }
  return out;
}

const describe = (s: Folded): string =>
  JSON.stringify({
    text: s.text,
    deleted: s.deleted,
    reactions: s.reactions.map(([e, u]) => `${e}:${u.length}:${u.slice(0, LISTED).join("+")}`),
    rev: s.rev,
  });

function shownAs(m: WireMessage): Folded {
  return {
    text: m.text,
    deleted: m.deleted === true,
    reactions: (m.reactions ?? []).map((r) => [r.emoji, r.users] as [string, string[]]),
    ...(m.rev === undefined ? {} : { rev: m.rev }),
  };
}

function same(expected: Folded, shown: WireMessage): boolean {
  if (shown.text !== expected.text || (shown.deleted === true) !== expected.deleted) return false;
  if (shown.rev !== expected.rev) return false;
  const reactions = shown.reactions ?? [];
  if (reactions.length !== expected.reactions.length) return false;
  return reactions.every((r, i) => {
    const [emoji, users] = expected.reactions[i] as [string, string[]];
    return (
      r.emoji === emoji &&
      r.count === users.length &&
      r.users.slice(0, LISTED).join("+") === users.slice(0, LISTED).join("+")
    );
  });
}

/**
 * Every message a reader shows is the stream's message with its changes folded in.
 * `kind`: the violation reported (a history page: "state-differs"; the SDK model: "model-differs").
 */
export function verifyShown(
  where: string,
  expected: Map<string, Folded>,
  shown: WireMessage[],
  kind: "state-differs" | "model-differs",
): Violation[] {
  const out: Violation[] = [];
  for (const m of shown) {
    if (m.kind !== undefined) continue;
    const e = expected.get(m.id);
    if (!e) continue;
    if (!same(e, m)) {
      out.push({
        kind,
        count: 1,
        detail: `${where} ${m.id}: shows ${describe(shownAs(m))}, the stream folds to ${describe(e)}`,
      });
    }
  }
  return out;
}
