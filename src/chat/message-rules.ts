import { AppError } from "../protocol/index.js";
import type { TargetLookup } from "./message-store.js";

/**
 * What a reaction's emoji and a message's mentions must be: the checks the schemas cannot
 * make, in one place for the service and its tests.
 */

function invalid(path: string, message: string): AppError {
  return new AppError("INVALID_PAYLOAD", `${path} ${message}`, { fields: [{ path, message }] });
}

const SHORT_CODE = /^:[a-z0-9_+-]{1,32}:$/;
/** A grapheme that is drawn as an emoji: a pictograph, a flag's regional indicators or a keycap. */
const EMOJI_PART = /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20E3/u;
const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** INVALID_PAYLOAD unless `emoji` is one emoji grapheme (👍, 👍🏽, 🇰🇷, 1️⃣) or a `:short_code:`. */
export function checkEmoji(emoji: string): string {
  if (SHORT_CODE.test(emoji)) return emoji;
  let count = 0;
  for (const _ of graphemes.segment(emoji)) {
    if (++count > 1) break;
  }
  if (count !== 1 || !EMOJI_PART.test(emoji)) {
    throw invalid("emoji", "must be one emoji or a :short_code: (a-z 0-9 _ + -, up to 32)");
  }
  return emoji;
}

/** Characters that join a mention to the word around it (so `@bob` is not in `@bobby` or `a@bob`). */
const ID_CONTINUES = /[A-Za-z0-9_@|.-]/;
const WORD_END = /[A-Za-z0-9_@|-]/;

/**
 * The mentions as stored: each id must be written `@<id>` in the text, not preceded by a
 * letter, digit or one of `_ @ | . -`, and not followed by a letter, digit or one of
 * `_ - @ |` (so `@bob,` and `@bob.` mention bob; `@bobby` and `mail@bob` do not).
 * Duplicates are dropped; an empty list is no list.
 */
export function checkMentions(text: string, mentions: readonly string[] | undefined): string[] | undefined {
  if (!mentions || mentions.length === 0) return undefined;
  const unique = [...new Set(mentions)];
  unique.forEach((id, i) => {
    const mark = `@${id}`;
    for (let at = text.indexOf(mark); at >= 0; at = text.indexOf(mark, at + 1)) {
      const before = at === 0 ? undefined : text[at - 1];
      const next = text[at + mark.length];
      if (before !== undefined && ID_CONTINUES.test(before)) continue;
      if (next === undefined || !WORD_END.test(next)) return;
    }
    throw invalid(`mentions.${i}`, `is not written as @${id} in the text`);
  });
  return unique;
}

/** The message a change or a reply is about, or the clear NOT_FOUND of why there is none. */
export function targetOf(lookup: TargetLookup) {
  if (lookup.status === "missing") throw new AppError("NOT_FOUND", "no such message in this room");
  if (lookup.status === "expired") {
    throw new AppError("NOT_FOUND", "the message is no longer in the room's retained history");
  }
  return lookup.message;
}
