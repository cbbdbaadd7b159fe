import type { Message } from "../protocol/index.js";
import type { EphemeralRoomEvent, RoomEvent, RoomFeed } from "./feed.js";

export interface MemoryRoomFeed extends RoomFeed {
  /** What the memory message store calls in the same step as an append. */
  publishMessage(message: Message): void;
}

/**
 * One process is the whole deployment: events are handed to the listeners synchronously,
 * in the order they are published, for the rooms subscribed here.
 */
export function createMemoryRoomFeed(): MemoryRoomFeed {
  const subscribed = new Set<string>();
  const listeners: ((event: RoomEvent) => void)[] = [];
  const dispatch = (roomId: string, event: RoomEvent) => {
    if (!subscribed.has(roomId)) return;
    for (const listener of listeners) listener(event);
  };
  return {
    async subscribe(roomId) {
      subscribed.add(roomId);
    },
    unsubscribe(roomId) {
      subscribed.delete(roomId);
    },
    publish(event: EphemeralRoomEvent) {
      dispatch(event.roomId, event);
    },
    publishMessage(message) {
      dispatch(message.roomId, { kind: "message", message });
    },
    onEvent(listener) {
      listeners.push(listener);
    },
    onRestored() {
      // Nothing is ever interrupted in one process.
    },
    close() {
      subscribed.clear();
    },
  };
}
