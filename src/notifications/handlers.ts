import type { AppSocket, EventRouter } from "../infra/event-router.js";
import type { HandshakeStep } from "../infra/handshake.js";
import type { Logger } from "../infra/logger.js";
import type { RateLimiter } from "../infra/rate-limit.js";
import type { AppServer } from "../infra/socket-server.js";
import { userRoom } from "../protocol/index.js";
import type { NotificationPublisher, NotificationService } from "./service.js";

/** Emits through the user room, which the Redis adapter carries to every instance. */
export function createSocketNotificationPublisher(io: AppServer): NotificationPublisher {
  return {
    notify(userIds, notification) {
      io.to(userIds.map(userRoom)).emit("notification:new", notification);
    },
    unread(userId, count) {
      io.to(userRoom(userId)).emit("notification:unread", { count });
    },
  };
}

export interface NotificationHandlersDeps {
  service: NotificationService;
  logger: Logger;
  listLimit: RateLimiter;
  readLimit: RateLimiter;
}

/**
 * Translates the client events to service calls; the user is always the socket's own. The
 * unread count a new connection gets is read during the handshake's admit phase, in the
 * same Redis round trip as the admission, and emitted once the socket is connected.
 */
export function createNotificationHandlers(deps: NotificationHandlersDeps) {
  const { service, logger } = deps;
  // Read during the handshake, taken when the socket connects (gone with a refused socket).
  const unreadAtConnect = new WeakMap<AppSocket, Promise<number>>();
  const readUnread: HandshakeStep = {
    phase: "admit",
    async run(socket) {
      const count = service.unreadCount(socket.data.user.id);
      // Not waited for: the handshake does not depend on it; a refused socket drops it.
      count.catch(() => {});
      unreadAtConnect.set(socket, count);
    },
  };
  return {
    handshake: readUnread,
    register(router: EventRouter) {
      router.on("notification:list", {
        rateLimit: deps.listLimit,
        handle: (payload, { user }) => service.list(user.id, payload),
      });
      router.on("notification:read", {
        rateLimit: deps.readLimit,
        handle: async (payload, { user }) => ({ unreadCount: await service.markRead(user.id, payload) }),
      });
    },

    onConnection(socket: AppSocket) {
      const userId = socket.data.user.id;
      const count = unreadAtConnect.get(socket) ?? service.unreadCount(userId);
      unreadAtConnect.delete(socket);
      count.then(
        (count) => socket.emit("notification:unread", { count }),
        // The client asks again with notification:list; a failed count must not drop the connection.
        (err: unknown) =>
          logger.warn({ socketId: socket.id, userId, err: (err as Error).message }, "unread count failed"),
      );
    },
  };
}
