import type { AppSocket, EventRouter } from "../infra/event-router.js";
import type { RateLimiter } from "../infra/rate-limit.js";
import { AppError, presenceRoom } from "../protocol/index.js";
import type { PresenceService } from "./service.js";

/** Per connection, across every presence:subscribe (500 ids per call is the schema's bound). */
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 2000;

export interface PresenceRateLimits {
  set: RateLimiter;
  subscribe: RateLimiter;
  query: RateLimiter;
}

const isPresenceRoom = (room: string) => room.startsWith(presenceRoom(""));

function subscriptionCount(socket: AppSocket): number {
  let count = 0;
  for (const room of socket.rooms) if (isPresenceRoom(room)) count += 1;
  return count;
}

/**
 * The socket side of presence: payloads in, service calls, Socket.IO rooms for
 * subscriptions (a change is emitted to `presence:<userId>`, which the adapter carries
 * to every instance).
 */
export function registerPresenceHandlers(
  router: EventRouter,
  service: PresenceService,
  limits: PresenceRateLimits,
): void {
  router.on("presence:set", {
    rateLimit: limits.set,
    handle: ({ status, text }, { socket, user }) => service.set(socket.id, user.id, status, text),
  });

  router.on("presence:subscribe", {
    rateLimit: limits.subscribe,
    async handle({ userIds }, { socket }) {
      const rooms = [...new Set(userIds)].map(presenceRoom);
      const added = rooms.filter((room) => !socket.rooms.has(room)).length;
      if (subscriptionCount(socket) + added > MAX_SUBSCRIPTIONS_PER_SOCKET) {
        throw new AppError(
          "FORBIDDEN",
          `at most ${MAX_SUBSCRIPTIONS_PER_SOCKET} presence subscriptions per connection`,
        );
      }
      // Join before reading, so that a change between the read and the join is not lost
      // (it may arrive as an event before the ack instead).
      await socket.join(rooms);
      return service.query(userIds);
    },
  });

  router.on("presence:unsubscribe", {
    async handle({ userIds }, { socket }) {
      const unique = [...new Set(userIds)];
      await Promise.all(unique.map((id) => socket.leave(presenceRoom(id))));
      return { userIds: unique };
    },
  });

  router.on("presence:query", {
    rateLimit: limits.query,
    handle: ({ userIds }) => service.query(userIds),
  });
}
