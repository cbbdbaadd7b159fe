import { tokenFor } from "../../test/helpers/tokens.js";
import { ask, openSocket, sleep, type WireMessage } from "./wire.js";

const PAGE = 100;

/**
 * Every retained entry of each room as `chat:history` serves it (messages with their
 * changes folded in), oldest first, read through one socket after the traffic.
 */
export async function readHistories(url: string, rooms: string[]): Promise<Map<string, WireMessage[]>> {
  const socket = openSocket(url, await tokenFor("history-reader", { rooms }, { expiresIn: "1h" }));
  try {
    const deadline = Date.now() + 10_000;
    while (!socket.connected) {
      if (Date.now() > deadline) throw new Error("the history reader could not connect");
      await sleep(20);
    }
    const out = new Map<string, WireMessage[]>();
    for (const roomId of rooms) {
      const entries: WireMessage[] = [];
      let after = "0-0";
      for (;;) {
        const res = await ask<{ messages: WireMessage[]; hasMore: boolean }>(socket, "chat:history", {
          roomId,
          after,
          limit: PAGE,
        });
        if (!res.ok) throw new Error(`chat:history of ${roomId} failed: ${res.error.code}`);
        entries.push(...res.data.messages);
        const last = res.data.messages.at(-1);
        if (!res.data.hasMore || !last) break;
        after = last.id;
      }
      out.set(roomId, entries);
    }
    return out;
  } finally {
    socket.disconnect();
  }
}
