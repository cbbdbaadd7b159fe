import express, { type Request, type RequestHandler, type Router } from "express";
import { bearerToken, createSecretCheck } from "../infra/bearer.js";
import type { Logger } from "../infra/logger.js";
import type { RateLimiterFactory } from "../infra/rate-limit.js";
import type { NotificationService } from "../notifications/index.js";
import { AppError, type Message, type PresenceState } from "../protocol/index.js";
import { renderData } from "../webhooks/events.js";
import type { DeadLetters } from "../webhooks/index.js";
import { apiKeyId } from "./api-key.js";
import { buildOpenApiDocument } from "./openapi.js";
import {
  deadLetterListQuery,
  deadLetterParams,
  parseOrThrow,
  publishNotificationBody,
  revokeBody,
  roomHistoryQuery,
  roomMessageBody,
  roomParams,
  userParams,
} from "./schemas.js";

/** What the internal API needs from chat: implemented by the chat service. */
export interface RoomMessages {
  postSystemMessage(roomId: string, text: string, senderId?: string): Promise<Message>;
  roomHistory(
    roomId: string,
    page: { beforeSeq?: number; afterSeq?: number; limit: number },
  ): Promise<{ epoch: string; seq: number; messages: Message[]; hasMore: boolean }>;
  roomOnline(roomId: string): Promise<string[]>;
}

/** One running instance, as the instance registry and presence know it. */
export interface InstanceInfo {
  instanceId: string;
  registration: string;
  lastHeartbeat: number;
  connections: number;
}

/** The read side's other sources: presence, notifications, the instance registry. */
export interface InternalReads {
  presence(userIds: readonly string[]): Promise<PresenceState[]>;
  unreadCount(userId: string): Promise<number>;
  instances(): Promise<InstanceInfo[]>;
}

export interface InternalApiOptions {
  /** INTERNAL_API_KEY; unset: every /internal route answers 404. */
  key: string | undefined;
  /** RATE_INTERNAL_API_PER_SEC: requests per second per key. */
  ratePerSec: number;
  /** The service's version, in the OpenAPI document. */
  version?: string;
}

export interface InternalApiDeps {
  logger: Logger;
  rateLimiter: RateLimiterFactory;
  notifications: Pick<NotificationService, "publish">;
  rooms: RoomMessages;
  reads: InternalReads;
  /**
   * Every socket of the user, on every instance. Throws UNAVAILABLE, having sent nothing,
   * when the request cannot reach the other instances now.
   */
  disconnectUser(userId: string): void;
  /**
   * Refuses the user's tokens issued before `beforeMs` on every instance, then disconnects
   * the user's sockets as `disconnectUser` does; resolves with the time in force.
   */
  revokeUser(userId: string, beforeMs: number): Promise<number>;
  /** The webhook dead letters; unset when webhooks are off (their routes answer 404). */
  deadLetters?: DeadLetters;
  /** Told of every answered request: the route's pattern (`unknown` when none matched) and the status. */
  onRequest?(route: string, status: number): void;
}

/**
 * What a request counts as: the matched route's pattern, never the raw path (it holds ids).
 * Read once the answer is sent, when Express has left the routers (and reset `baseUrl`).
 */
function routeOf(req: Request): string {
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  return typeof pattern === "string" ? `/internal${pattern}` : "unknown";
}

/**
 * The server-to-server API under /internal: other services notify users, post into
 * rooms and cut users off without speaking Socket.IO. Without INTERNAL_API_KEY every
 * /internal route answers 404, as if it did not exist.
 */
export function createInternalApi(options: InternalApiOptions, deps: InternalApiDeps): Router {
  const router = express.Router();
  const onRequest = deps.onRequest;
  if (onRequest) {
    router.use("/internal", (req, res, next) => {
      res.once("finish", () => onRequest(routeOf(req), res.statusCode));
      next();
    });
  }
  const key = options.key;
  if (key === undefined) {
    router.use("/internal", () => {
      throw new AppError("NOT_FOUND", "the internal API is disabled");
    });
    return router;
  }

  const log = deps.logger.child({ module: "internal-api" });
  const isValidKey = createSecretCheck(key);
  const limiter = deps.rateLimiter("internal-api", {
    points: options.ratePerSec,
    durationSec: 1,
  });

  const authenticate: RequestHandler = async (req, res, next) => {
    const presented = bearerToken(req.get("authorization"));
    if (presented === undefined || !isValidKey(presented)) {
      res.set("WWW-Authenticate", "Bearer");
      throw new AppError("UNAUTHORIZED", "missing or wrong API key");
    }
    await limiter.consume(apiKeyId(presented));
    next();
  };

  // The key is checked on each route (not before routing), so every answer, a 401 or 429
  // included, is counted under the route it was for.
  const api = express.Router();

  api.post("/notifications", authenticate, async (req, res) => {
    const input = parseOrThrow(publishNotificationBody, req.body, "notification");
    const result = await deps.notifications.publish(input);
    if (result.replayed) res.set("Idempotent-Replayed", "true");
    res.status(202).json({ notifications: result.notifications });
  });

  api.post("/rooms/:roomId/messages", authenticate, async (req, res) => {
    const { roomId } = parseOrThrow(roomParams, req.params, "room");
    const { text, senderId } = parseOrThrow(roomMessageBody, req.body, "message");
    const message = await deps.rooms.postSystemMessage(roomId, text, senderId);
    log.info({ roomId, messageId: message.id, senderId: message.senderId }, "system message posted");
    res.status(201).json({ message });
  });

  api.post("/users/:userId/disconnect", authenticate, (req, res) => {
    const { userId } = parseOrThrow(userParams, req.params, "user");
    deps.disconnectUser(userId);
    log.info({ userId }, "user disconnected on request");
    res.status(202).json({ userId });
  });

  api.post("/users/:userId/revoke", authenticate, async (req, res) => {
    const { userId } = parseOrThrow(userParams, req.params, "user");
    const { before } = parseOrThrow(revokeBody, req.body, "revocation");
    const now = Date.now();
    const beforeMs = before === undefined ? now : typeof before === "number" ? before : Date.parse(before);
    if (beforeMs > now) {
      throw new AppError("INVALID_PAYLOAD", "before must not be in the future", {
        fields: [{ path: "before", message: "must not be in the future" }],
      });
    }
    const inForce = await deps.revokeUser(userId, beforeMs);
    log.info({ userId, before: inForce }, "user's tokens revoked");
    res.status(202).json({ userId, before: inForce });
  });

  api.get("/rooms/:roomId/messages", authenticate, async (req, res) => {
    const { roomId } = parseOrThrow(roomParams, req.params, "room");
    const query = parseOrThrow(roomHistoryQuery, req.query, "query");
    res.json({ roomId, ...(await deps.rooms.roomHistory(roomId, query)) });
  });

  api.get("/rooms/:roomId/online", authenticate, async (req, res) => {
    const { roomId } = parseOrThrow(roomParams, req.params, "room");
    const userIds = await deps.rooms.roomOnline(roomId);
    res.json({ roomId, users: userIds.length === 0 ? [] : await deps.reads.presence(userIds) });
  });

  api.get("/users/:userId/presence", authenticate, async (req, res) => {
    const { userId } = parseOrThrow(userParams, req.params, "user");
    const [state] = await deps.reads.presence([userId]);
    res.json(state);
  });

  api.get("/users/:userId/notifications/unread-count", authenticate, async (req, res) => {
    const { userId } = parseOrThrow(userParams, req.params, "user");
    res.json({ userId, unreadCount: await deps.reads.unreadCount(userId) });
  });

  api.get("/instances", authenticate, async (_req, res) => {
    res.json({ instances: await deps.reads.instances() });
  });

  const deadLetters = (): DeadLetters => {
    if (!deps.deadLetters) throw new AppError("NOT_FOUND", "webhooks are off (WEBHOOK_URL is unset)");
    return deps.deadLetters;
  };

  api.get("/webhooks/dead-letters", authenticate, async (req, res) => {
    const { limit, after } = parseOrThrow(deadLetterListQuery, req.query, "query");
    const letters = await deadLetters().list(limit, after);
    res.json({
      deadLetters: letters.map(({ data, ...letter }) => ({ ...letter, data: renderData(letter.type, data) })),
      next: letters.length === limit ? letters.at(-1)?.id : undefined,
    });
  });

  api.post("/webhooks/dead-letters/:id/redeliver", authenticate, async (req, res) => {
    const { id } = parseOrThrow(deadLetterParams, req.params, "dead letter");
    if (!(await deadLetters().redeliver(id))) throw new AppError("NOT_FOUND", "no such dead letter");
    log.info({ deadLetterId: id }, "webhook dead letter redelivered");
    res.status(202).json({ id });
  });

  let document: unknown;
  // Behind the key like every /internal route: it tells a stranger nothing about what exists.
  api.get("/openapi.json", authenticate, (_req, res) => {
    document ??= buildOpenApiDocument(options.version ?? "0.0.0");
    res.json(document);
  });

  // Unknown routes need the key too: without it they answer 401, never reveal what exists.
  api.use(authenticate, () => {
    throw new AppError("NOT_FOUND", "no such internal route");
  });

  router.use("/internal", api);
  return router;
}
