import { type Request, type Response, Router } from "express";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { ClientEventName, ErrorCode } from "../protocol/index.js";
import { bearerToken, createSecretCheck } from "./bearer.js";
import type { EventOutcome } from "./event-router.js";
import type { RedisConnections } from "./redis.js";

/**
 * The service's Prometheus metrics, in a registry of its own (no global default
 * registry: two apps in one test process must not share counters).
 */
export interface Metrics {
  registry: Registry;
  connections: Counter<"transport">;
  disconnections: Counter<"reason">;
  events: Counter<"event" | "outcome">;
  eventDuration: Histogram<"event">;
  messagesStored: Counter;
  notificationsPublished: Counter;
  rateLimited: Counter<"event">;
  redisErrors: Counter<"role">;
  slowConsumerDisconnects: Counter;
  /** Handshakes refused, by the code the client got (FORBIDDEN: origin; UNAVAILABLE: draining). */
  handshakesRefused: Counter<"code">;
  /** Internal API requests by route pattern (never the raw path) and HTTP status. */
  internalApiRequests: Counter<"route" | "status">;
  /** Feed the event pipeline's observations in. */
  observeEvent(event: string, outcome: EventOutcome, durationMs: number): void;
}

/** The codes a refused handshake can get: their series exist from the start, at zero. */
export const HANDSHAKE_REFUSAL_CODES: readonly ErrorCode[] = [
  "TOKEN_MISSING",
  "TOKEN_EXPIRED",
  "TOKEN_INVALID",
  "RATE_LIMITED",
  "TOO_MANY_CONNECTIONS",
  "FORBIDDEN",
  "UNAVAILABLE",
];

export function createMetrics(options: {
  knownEvents: readonly ClientEventName[];
  connectedSockets: () => number;
  /** Handshakes in progress (admission control's count, HANDSHAKE_MAX_IN_FLIGHT its bound). */
  handshakesInFlight?: () => number;
  /** What `/ready` answers: true when ready. */
  ready?: () => boolean;
  redis?: RedisConnections;
  /** The service's version, for rt_build_info. */
  version: string;
}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const known = new Set<string>(options.knownEvents);

  new Gauge({
    name: "rt_build_info",
    help: "Always 1; the labels say which build runs",
    labelNames: ["version", "node_version"],
    registers: [registry],
  }).set({ version: options.version, node_version: process.version }, 1);

  new Gauge({
    name: "rt_sockets_connected",
    help: "Sockets connected to this instance",
    registers: [registry],
    collect() {
      this.set(options.connectedSockets());
    },
  });
  const inFlight = options.handshakesInFlight;
  new Gauge({
    name: "rt_handshakes_in_flight",
    help: "Handshakes in progress on this instance; at HANDSHAKE_MAX_IN_FLIGHT new ones are refused UNAVAILABLE",
    registers: [registry],
    collect() {
      this.set(inFlight?.() ?? 0);
    },
  });
  const ready = options.ready;
  // Prometheus alerts on readiness from the scrape: an orchestrator's own probe is invisible to it.
  new Gauge({
    name: "rt_ready",
    help: "1 when GET /ready answers 200 (Redis connected, not draining, not saturated), 0 otherwise",
    registers: [registry],
    collect() {
      this.set(ready === undefined || ready() ? 1 : 0);
    },
  });
  const redis = options.redis;
  new Gauge({
    name: "rt_redis_up",
    help: "1 when the Redis connection is ready, by role (command, pub, sub); absent without Redis",
    labelNames: ["role"],
    registers: [registry],
    collect() {
      if (!redis) return;
      for (const role of ["command", "pub", "sub"] as const)
        this.set({ role }, redis[role].status === "ready" ? 1 : 0);
    },
  });

  const metrics: Metrics = {
    registry,
    connections: new Counter({
      name: "rt_connections_total",
      help: "Authenticated connections accepted",
      labelNames: ["transport"],
      registers: [registry],
    }),
    disconnections: new Counter({
      name: "rt_disconnections_total",
      help: "Disconnections by Socket.IO reason",
      labelNames: ["reason"],
      registers: [registry],
    }),
    events: new Counter({
      name: "rt_events_total",
      help: "Client events handled, by event and outcome (ok or error code)",
      labelNames: ["event", "outcome"],
      registers: [registry],
    }),
    eventDuration: new Histogram({
      name: "rt_event_duration_seconds",
      help: "Handler latency from receipt to ack, by event",
      labelNames: ["event"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    messagesStored: new Counter({
      name: "rt_chat_messages_stored_total",
      help: "Chat messages persisted (duplicates by clientMsgId not counted)",
      registers: [registry],
    }),
    notificationsPublished: new Counter({
      name: "rt_notifications_published_total",
      help: "Notifications stored for a user (one per recipient)",
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: "rt_rate_limited_total",
      help: "Requests refused with RATE_LIMITED, by event or route",
      labelNames: ["event"],
      registers: [registry],
    }),
    redisErrors: new Counter({
      name: "rt_redis_errors_total",
      help: "Errors reported by the Redis connections, by role (pub/sub errors are the adapter's)",
      labelNames: ["role"],
      registers: [registry],
    }),
    slowConsumerDisconnects: new Counter({
      name: "rt_slow_consumer_disconnects_total",
      help: "Sockets disconnected because their send buffer passed the limit",
      registers: [registry],
    }),
    handshakesRefused: new Counter({
      name: "rt_handshakes_refused_total",
      help: "Connections refused before they were established, by the code the client got (FORBIDDEN: origin, UNAVAILABLE: draining)",
      labelNames: ["code"],
      registers: [registry],
    }),
    internalApiRequests: new Counter({
      name: "rt_internal_api_requests_total",
      help: "Internal API requests by route pattern and HTTP status",
      labelNames: ["route", "status"],
      registers: [registry],
    }),
    observeEvent(event, outcome, durationMs) {
      // Unknown event names come from clients: never let them become label values.
      const name = known.has(event) ? event : "unknown";
      metrics.events.inc({ event: name, outcome });
      metrics.eventDuration.observe({ event: name }, durationMs / 1000);
      if (outcome === "RATE_LIMITED") metrics.rateLimited.inc({ event: name });
    },
  };
  // Every labelled series an alert may watch exists from the start, at zero: a rate() over
  // a series that appears with its first increment misses that increment.
  for (const event of known) metrics.rateLimited.inc({ event }, 0);
  for (const code of HANDSHAKE_REFUSAL_CODES) metrics.handshakesRefused.inc({ code }, 0);
  if (redis) {
    for (const role of ["command", "pub", "sub"] as const) {
      metrics.redisErrors.inc({ role }, 0);
      redis[role].on("error", () => metrics.redisErrors.inc({ role }));
    }
  }
  return metrics;
}

/** `GET /metrics`, behind `Authorization: Bearer <METRICS_TOKEN>` when a token is configured. */
export function createMetricsRouter(metrics: Metrics, token: string | undefined): Router {
  const router = Router();
  const matches = token === undefined ? undefined : createSecretCheck(token);
  router.get("/metrics", async (req: Request, res: Response) => {
    if (matches) {
      if (!matches(bearerToken(req.headers.authorization) ?? "")) {
        res.status(401).json({ error: { code: "UNAUTHORIZED", message: "metrics token required" } });
        return;
      }
    }
    res.setHeader("content-type", metrics.registry.contentType);
    res.end(await metrics.registry.metrics());
  });
  return router;
}
