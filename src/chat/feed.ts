import type { Message } from "../protocol/index.js";
import type { MemberEvent } from "./member-store.js";

/**
 * A room's live events as every instance receives them. Stored messages are published
 * by the message store in the same step as the append, so a subscriber receives a room's
 * messages in log order; the other events are ephemeral and published by the instance
 * that causes them.
 */
export type RoomEvent =
  | { kind: "message"; message: Message }
  | { kind: "typing"; roomId: string; userId: string; typing: boolean }
  | { kind: "read"; roomId: string; userId: string; messageId: string }
  | { kind: "member"; roomId: string; userId: string; event: MemberEvent };

export type EphemeralRoomEvent = Exclude<RoomEvent, { kind: "message" }>;

/** Ephemeral room events (typing, read positions, member changes) to every instance. */
export interface RoomEventPublisher {
  publish(event: EphemeralRoomEvent): void;
}

export interface RoomFeed {
  /**
   * Start receiving the room's events. Resolves once every event published from then on
   * is sure to arrive here; rejects (UNAVAILABLE) when that cannot be confirmed in time.
   */
  subscribe(roomId: string): Promise<void>;
  unsubscribe(roomId: string): void;
  /** Publish an ephemeral event to every instance (fire and forget: lost while Redis is down). */
  publish(event: EphemeralRoomEvent): void;
  /** Every event of a subscribed room, in publish order per room. */
  onEvent(listener: (event: RoomEvent) => void): void;
  /**
   * Events may have been missed (the subscription was interrupted) and the subscriptions
   * are back: whoever keeps a position in a room's log must catch up from the store.
   */
  onRestored(listener: () => void): void;
  close(): void;
}
