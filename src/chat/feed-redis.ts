import type { Logger } from "../infra/logger.js";
import type { RedisClient } from "../infra/redis.js";
import { AppError } from "../protocol/index.js";
import type { EphemeralRoomEvent, RoomEvent, RoomFeed } from "./feed.js";
import { roomChannel, roomOfChannel } from "./keys.js";
import { decodeRoomEvent, encodeEphemeral } from "./record.js";

export type PubSubKind = "classic" | "sharded";

export interface RedisRoomFeedOptions {
  /** The subscriber connection (shared with the Socket.IO adapter: it ignores these channels). */
  sub: RedisClient;
  /** Publishes the ephemeral events. */
  pub: RedisClient;
  keyPrefix: string;
  /** Read on every call: the kind is known once the app has asked Redis for its version. */
  kind: () => PubSubKind;
  logger: Logger;
  /** How long a subscription may take to be confirmed before a join gives up (UNAVAILABLE). */
  confirmTimeoutMs?: number;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AppError("UNAVAILABLE", `${what} not confirmed in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Each room's channel on Redis pub/sub: SSUBSCRIBE (sharded, so an instance receives only
 * the rooms it has sockets in, and a room's channel lives on the node of its keys) or
 * SUBSCRIBE. After the subscriber connection was lost and is back, every room is
 * subscribed again and confirmed before the listeners hear it was restored.
 */
export function createRedisRoomFeed(options: RedisRoomFeedOptions): RoomFeed {
  const { sub, pub, keyPrefix } = options;
  const log = options.logger.child({ module: "room-feed" });
  const confirmMs = options.confirmTimeoutMs ?? 2000;
  const subscribed = new Set<string>();
  const listeners: ((event: RoomEvent) => void)[] = [];
  const restoredListeners: (() => void)[] = [];
  let interrupted = false;

  const command = (verb: "subscribe" | "unsubscribe", channel: string): Promise<unknown> => {
    const sharded = options.kind() === "sharded";
    if (verb === "subscribe") return sharded ? sub.ssubscribe(channel) : sub.subscribe(channel);
    return sharded ? sub.sunsubscribe(channel) : sub.unsubscribe(channel);
  };

  const onMessage = (channel: string, raw: string) => {
    const roomId = roomOfChannel(keyPrefix, channel);
    if (roomId === undefined || !subscribed.has(roomId)) return;
    const event = decodeRoomEvent(roomId, raw);
    if (!event) {
      log.warn({ roomId }, "unreadable room event dropped");
      return;
    }
    for (const listener of listeners) listener(event);
  };

  const onClose = () => {
    interrupted = true;
  };
  const onReady = () => {
    if (!interrupted) return;
    interrupted = false;
    const rooms = [...subscribed];
    Promise.all(rooms.map((roomId) => command("subscribe", roomChannel(keyPrefix, roomId))))
      .then(() => {
        log.info({ rooms: rooms.length }, "room subscriptions restored");
        for (const listener of restoredListeners) listener();
      })
      .catch((err: unknown) => {
        // The connection dropped again: its next `ready` tries again.
        interrupted = true;
        log.warn({ err: (err as Error).message }, "room subscriptions not restored yet");
      });
  };
  sub.on("smessage", onMessage);
  sub.on("message", onMessage);
  sub.on("close", onClose);
  sub.on("ready", onReady);

  return {
    async subscribe(roomId) {
      subscribed.add(roomId);
      try {
        await within(command("subscribe", roomChannel(keyPrefix, roomId)), confirmMs, "room subscription");
      } catch (err) {
        throw err instanceof AppError ? err : new AppError("UNAVAILABLE", undefined, { cause: err });
      }
    },
    unsubscribe(roomId) {
      if (!subscribed.delete(roomId)) return;
      command("unsubscribe", roomChannel(keyPrefix, roomId)).catch((err: unknown) => {
        log.debug({ roomId, err: (err as Error).message }, "room unsubscribe failed");
      });
    },
    publish(event: EphemeralRoomEvent) {
      const channel = roomChannel(keyPrefix, event.roomId);
      const payload = encodeEphemeral(event);
      const sent =
        options.kind() === "sharded" ? pub.spublish(channel, payload) : pub.publish(channel, payload);
      sent.catch((err: unknown) => {
        // Ephemeral: a typing indicator lost during an outage is not worth a retry.
        log.debug(
          { roomId: event.roomId, kind: event.kind, err: (err as Error).message },
          "room event not published",
        );
      });
    },
    onEvent(listener) {
      listeners.push(listener);
    },
    onRestored(listener) {
      restoredListeners.push(listener);
    },
    close() {
      sub.off("smessage", onMessage);
      sub.off("message", onMessage);
      sub.off("close", onClose);
      sub.off("ready", onReady);
      subscribed.clear();
    },
  };
}
