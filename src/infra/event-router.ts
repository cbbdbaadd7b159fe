import type { Socket } from "socket.io";
import type { z } from "zod";
import {
  type AckData,
  AppError,
  type AuthenticatedUser,
  type ClientEventName,
  type ClientToServerEvents,
  clientEvents,
  describeIssues,
  type ErrorBody,
  type InterServerEvents,
  isClientEvent,
  type ParsedPayload,
  type ServerToClientEvents,
  type SocketData,
} from "../protocol/index.js";
import { clientErrorOf } from "./client-error.js";
import type { Logger } from "./logger.js";
import type { InlineRateLimit, PendingLimit, RateLimiter } from "./rate-limit.js";

export type AppSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface HandlerContext {
  socket: AppSocket;
  user: AuthenticatedUser;
  /** The route's inline rate limit for this user, for the handler to consume with its write. */
  limit?: PendingLimit;
}

/**
 * How one event is handled. Its payload schema and ack data come from the contract
 * (`clientEvents` in src/protocol): the handler receives the parsed payload of `E` and
 * must resolve with `E`'s ack data.
 */
export interface Route<E extends ClientEventName> {
  /**
   * Per user (all of a user's sockets and instances share it), after validation: consumed
   * before the handler runs, or with `inlineLimit(limiter)` handed to it as `ctx.limit`.
   */
  rateLimit?: RateLimiter | InlineRateLimit;
  handle(payload: ParsedPayload<E>, ctx: HandlerContext): Promise<AckData<E>> | AckData<E>;
}

/** A route once registered: its types were checked against the contract by `on`. */
interface RegisteredRoute {
  schema: z.ZodType;
  /** Consumed by the router before the handler runs. */
  limitFirst: RateLimiter | undefined;
  /** Handed to the handler as `ctx.limit`. */
  inline: RateLimiter | undefined;
  route: { handle(payload: unknown, ctx: HandlerContext): unknown };
}

export type EventOutcome = "ok" | ErrorBody["code"];

export type EventObserver = (event: string, outcome: EventOutcome, durationMs: number) => void;

/**
 * No ack waits longer than this, whatever the handler is still waiting for: a hung Redis
 * makes every command wait its own timeout, and a handler that chains several (a rate
 * limit, a subscription, reads) would otherwise add them up (docs/reliability.md
 * promises 5 s; the sweep below adds up to `DEADLINE_SWEEP_MS`).
 */
export const ACK_DEADLINE_MS = 3500;
/** How often events past their deadline are answered: one timer per router, not one per event. */
const DEADLINE_SWEEP_MS = 250;

export interface EventRouter {
  /** One route per event of the contract; a second one, or a name outside it, throws. */
  on<E extends ClientEventName>(event: E, route: Route<E>): void;
  /** Route this socket's events through the pipeline. */
  attach(socket: AppSocket): void;
}

/** Map anything thrown by a handler to the error body the client sees. */
export function toErrorBody(err: unknown): { body: ErrorBody; unexpected: boolean } {
  const known = clientErrorOf(err);
  if (known) return { body: known.toBody(), unexpected: false };
  return { body: new AppError("INTERNAL").toBody(), unexpected: true };
}

/**
 * The one pipeline every client event goes through: validate the payload, rate-limit
 * per user, run the handler, answer with the `{ok, data | error}` envelope (or
 * `server:error` when the client sent no ack). Nothing a handler throws reaches
 * Socket.IO.
 *
 * Events are dispatched from a single shared `onAny` listener instead of one
 * closure per event per socket: it keeps the per-connection memory flat.
 */
export function createEventRouter(deps: {
  logger: Logger;
  observe?: EventObserver;
  /** @default ACK_DEADLINE_MS */
  ackDeadlineMs?: number;
}): EventRouter {
  const log = deps.logger.child({ module: "events" });
  // Every routed event: its schema (the contract's), its limits and its handler.
  const routes = new Map<string, RegisteredRoute>();
  const deadlines = createDeadlines(deps.ackDeadlineMs ?? ACK_DEADLINE_MS);

  async function dispatch(socket: AppSocket, event: string, args: unknown[]): Promise<void> {
    const started = performance.now();
    const last = args[args.length - 1];
    const ack = typeof last === "function" ? (last as (response: unknown) => void) : undefined;
    const payload = ack ? (args.length > 1 ? args[0] : undefined) : args[0];
    const user = socket.data.user;

    const fail = (body: ErrorBody) => {
      if (ack) ack({ ok: false, error: body });
      else
        socket.emit("server:error", {
          event: String(event).slice(0, 64),
          code: body.code,
          message: body.message,
        });
      deps.observe?.(event, body.code, performance.now() - started);
    };

    const entry = routes.get(event);
    if (!entry) {
      fail(new AppError("NOT_FOUND", "unknown event").toBody());
      return;
    }
    const parsed = entry.schema.safeParse(payload);
    if (!parsed.success) {
      fail(
        new AppError("INVALID_PAYLOAD", `invalid payload for ${event}`, {
          fields: describeIssues(parsed.error),
        }).toBody(),
      );
      return;
    }
    // Answered once: by the handler, or by the deadline if the handler is not done by then.
    let answered = false;
    const overdue = deadlines.add(() => {
      answered = true;
      log.warn({ event, socketId: socket.id, userId: user.id }, "no answer within the ack deadline");
      fail(new AppError("UNAVAILABLE", "no answer in time, try again").toBody());
    });
    try {
      if (entry.limitFirst) await entry.limitFirst.consume(user.id);
      const limit = entry.inline && { limiter: entry.inline, key: user.id };
      const data = await entry.route.handle(parsed.data, { socket, user, limit });
      if (answered) {
        log.debug({ event, socketId: socket.id, userId: user.id }, "late result dropped");
        return;
      }
      answered = true;
      if (ack) ack({ ok: true, data });
      deps.observe?.(event, "ok", performance.now() - started);
    } catch (err) {
      const { body, unexpected } = toErrorBody(err);
      if (answered) {
        // A bug stays an error, even when the deadline has already answered for it.
        if (unexpected)
          log.error({ err, event, socketId: socket.id, userId: user.id }, "handler failed late");
        else log.debug({ event, socketId: socket.id, code: body.code }, "late failure dropped");
        return;
      }
      answered = true;
      if (unexpected) {
        log.error({ err, event, socketId: socket.id, userId: user.id }, "handler failed");
      } else if (body.code === "UNAVAILABLE") {
        log.warn(
          { event, socketId: socket.id, userId: user.id, reason: (err as Error).message },
          "dependency down",
        );
      }
      fail(body);
    } finally {
      deadlines.remove(overdue);
    }
  }

  // `this` is the socket: Socket.IO calls any-listeners with the socket as receiver.
  function onAnyEvent(this: AppSocket, event: string, ...args: unknown[]): void {
    dispatch(this, event, args).catch((err: unknown) => {
      log.error({ err, event }, "event dispatch failed");
    });
  }

  return {
    on(event, route) {
      if (!isClientEvent(event)) throw new Error(`${event} is not an event of the contract`);
      if (routes.has(event)) throw new Error(`handler for ${event} registered twice`);
      const { rateLimit } = route;
      const isInline = rateLimit !== undefined && "inline" in rateLimit;
      routes.set(event, {
        // The contract ties the route's types to this schema; past here, only values flow.
        schema: clientEvents[event].payload,
        limitFirst: isInline ? undefined : rateLimit,
        inline: isInline ? rateLimit.inline : undefined,
        route: route as unknown as RegisteredRoute["route"],
      });
    },
    attach(socket) {
      socket.onAny(onAnyEvent);
    },
  };
}

/**
 * The events still waiting for their handler, oldest first (a Set keeps insertion order,
 * and every entry has the same deadline), checked by one timer that runs only while
 * something is pending: a Set insert and delete per event instead of a timer of its own.
 */
function createDeadlines(deadlineMs: number) {
  const pending = new Set<{ due: number; expire: () => void }>();
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = () => {
    const now = performance.now();
    for (const entry of pending) {
      if (entry.due > now) break;
      pending.delete(entry);
      entry.expire();
    }
    if (pending.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };
  return {
    add(expire: () => void) {
      const entry = { due: performance.now() + deadlineMs, expire };
      pending.add(entry);
      if (!sweeper) {
        sweeper = setInterval(sweep, Math.min(DEADLINE_SWEEP_MS, deadlineMs));
        sweeper.unref();
      }
      return entry;
    },
    remove(entry: { due: number; expire: () => void }) {
      pending.delete(entry);
    },
  };
}
