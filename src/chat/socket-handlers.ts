import type { EventRouter } from "../infra/event-router.js";
import { inlineLimit, type RateLimiter } from "../infra/rate-limit.js";
import type { AppServer } from "../infra/socket-server.js";
import { userRoom } from "../protocol/index.js";
import type { LocalDelivery } from "./relay.js";
import type { RoomAnnouncer, RoomList } from "./room-list.js";
import type { ChatService } from "./service.js";

/**
 * The relay's hand-off to this instance's sockets that follow a room (the Socket.IO room
 * of the same id, joined by `chat:join`). Local only: every instance relays the room's
 * events itself, from the room's feed.
 */
export function createLocalDelivery(io: AppServer): LocalDelivery {
  return {
    message(message) {
      io.local.to(message.roomId).emit("chat:message", message);
    },
    typing(roomId, userId, typing) {
      io.local.to(roomId).except(userRoom(userId)).emit("chat:typing", { roomId, userId, typing });
    },
    read(roomId, userId, messageId) {
      io.local.to(roomId).emit("chat:read", { roomId, userId, messageId });
    },
    member(roomId, userId, event) {
      io.local.to(roomId).emit("chat:member", { roomId, userId, event });
    },
  };
}

/** Tells a socket it is no longer in a room it had joined (its room token expired, or the backend refused it). */
export function createLeftNotice(io: AppServer) {
  return (socketId: string, roomId: string, reason: "expired" | "denied") => {
    io.local.to(socketId).emit("chat:left", { roomId, reason });
  };
}

/**
 * `chat:room` to every socket of the users, on every instance (their `user:` rooms cross
 * instances through the adapter), except the sockets in the room itself: those receive
 * its messages live.
 */
export function createRoomAnnouncer(io: AppServer): RoomAnnouncer {
  return {
    announce(userIds, activity) {
      io.to(userIds.map(userRoom)).except(activity.roomId).emit("chat:room", activity);
    },
  };
}

export interface ChatRateLimits {
  send: RateLimiter;
  typing: RateLimiter;
  join: RateLimiter;
  /** history and read: store reads, kept apart from joins so paging cannot starve them. */
  query: RateLimiter;
  /** chat:edit and chat:delete, one bucket. */
  edit: RateLimiter;
  react: RateLimiter;
  rooms: RateLimiter;
}

/** The chat events on the shared pipeline: each one is a service call, nothing more. */
export function registerChatEvents(
  router: EventRouter,
  service: ChatService,
  roomList: RoomList,
  limits: ChatRateLimits,
): void {
  router.on("chat:rooms", {
    rateLimit: limits.rooms,
    handle: (payload, { socket, user }) => roomList.list(user, payload, socket),
  });
  router.on("chat:join", {
    rateLimit: limits.join,
    handle: (payload, { socket, user }) => service.join(socket, user, payload),
  });
  router.on("chat:leave", {
    handle: (payload, { socket, user }) => service.leave(socket, user, payload),
  });
  router.on("chat:send", {
    // Consumed by the store with the write, in the append script where Redis allows it.
    rateLimit: inlineLimit(limits.send),
    handle: (payload, { socket, user, limit }) => service.send(socket, user, payload, limit),
  });
  router.on("chat:edit", {
    rateLimit: limits.edit,
    handle: (payload, { socket, user }) => service.edit(user, payload, socket),
  });
  router.on("chat:delete", {
    rateLimit: limits.edit,
    handle: (payload, { socket, user }) => service.remove(user, payload, socket),
  });
  router.on("chat:react", {
    rateLimit: limits.react,
    handle: (payload, { socket, user }) => service.react(user, payload, socket),
  });
  router.on("chat:history", {
    rateLimit: limits.query,
    handle: (payload, { socket, user }) => service.history(user, payload, socket),
  });
  router.on("chat:typing", {
    rateLimit: limits.typing,
    handle: (payload, { socket, user }) => service.typing(socket, user, payload),
  });
  router.on("chat:read", {
    rateLimit: limits.query,
    handle: (payload, { socket, user }) => service.read(user, payload, socket),
  });
}
