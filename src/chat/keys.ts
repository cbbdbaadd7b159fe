/**
 * Redis names of a room. Every key and the room's channel carry the room id as a hash tag
 * (`chat:{<roomId>}:…`), so the scripts that touch several of them, and the publish inside
 * the append script, stay in one Cluster slot. Room ids never contain a space, `{` or `}`
 * (ROOM_ID_PATTERN).
 */
export const roomKey = (prefix: string, roomId: string, suffix: string): string =>
  `${prefix}chat:{${roomId}}:${suffix}`;

/** The room's live channel: stored messages (published by the append script) and ephemeral events. */
export const roomChannel = (prefix: string, roomId: string): string => roomKey(prefix, roomId, "live");

/** The room id of a channel named by `roomChannel`, or undefined for any other channel. */
export function roomOfChannel(prefix: string, channel: string): string | undefined {
  const head = `${prefix}chat:{`;
  const tail = "}:live";
  if (!channel.startsWith(head) || !channel.endsWith(tail)) return undefined;
  return channel.slice(head.length, channel.length - tail.length);
}
