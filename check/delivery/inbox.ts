import type { Notification, NotificationListResult } from "../../src/protocol/index.js";
import { tokenFor } from "../../test/helpers/tokens.js";
import { ask, openSocket } from "./wire.js";

export interface Inbox {
  items: Notification[];
  unreadCount: number;
}

const PAGE = 100;

/** A user's whole inbox and unread count, as `notification:list` shows them (newest first, paged). */
export async function readInbox(url: string, userId: string): Promise<Inbox> {
  const socket = openSocket(url, await tokenFor(userId));
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    });
    const items: Notification[] = [];
    let unreadCount = 0;
    let before: string | undefined;
    for (;;) {
      const res = await ask<NotificationListResult>(socket, "notification:list", {
        limit: PAGE,
        ...(before === undefined ? {} : { before }),
      });
      if (!res.ok) throw new Error(`notification:list for ${userId}: ${res.error.code}`);
      if (before === undefined) unreadCount = res.data.unreadCount;
      items.push(...res.data.items);
      before = res.data.items.at(-1)?.id;
      if (!res.data.hasMore || before === undefined) return { items, unreadCount };
    }
  } finally {
    socket.disconnect();
  }
}
