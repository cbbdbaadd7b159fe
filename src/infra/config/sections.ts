import { z } from "zod";
import { messageHookSection, roomAccessSection } from "./backend-hooks.js";
import { flag, hostPorts, int, isHostPort, list, optionalString, problem } from "./fields.js";
import { jwtSection } from "./jwt.js";

/**
 * One parser per section: the section's variables, with their defaults, and the settings
 * the service reads, derived from them by the transform (their type is the Config's).
 * A problem between variables of one section is the section's; the production rules are
 * in production.ts.
 */

/** Read by the process section, and by the sections whose defaults differ in production. */
const nodeEnv = z.enum(["development", "production", "test"]).default("development");

/** Spread at the top of the Config: `config.port`, `config.isProduction`, … */
export const processSection = z
  .object({
    NODE_ENV: nodeEnv,
    PORT: int(0, 65535).default(3000),
    HOST: z.string().min(1).default("0.0.0.0"),
    LISTEN_BACKLOG: int(1, 65_535).default(4096),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    LOG_FORMAT: z.enum(["json", "pretty"]).default("json"),
    INSTANCE_ID: optionalString,
    SHUTDOWN_GRACE_MS: int(0, 600_000).default(10_000),
  })
  .transform((e) => ({
    env: e.NODE_ENV,
    isProduction: e.NODE_ENV === "production",
    port: e.PORT,
    host: e.HOST,
    /**
     * Connections the kernel holds for accept(): Node's default, 511, overflows when the
     * clients of a dead instance arrive within half a second, and each dropped one waits
     * for TCP's retransmission (1 s, 3 s, 7 s, …). Capped by net.core.somaxconn.
     */
    listenBacklog: e.LISTEN_BACKLOG,
    logLevel: e.LOG_LEVEL,
    /** `pretty` formats lines for a person in development; collectors want `json`. */
    logFormat: e.LOG_FORMAT,
    /** Stable for the process; every log line and /health carry it. Unset: pid + random. */
    instanceId: e.INSTANCE_ID,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
  }));

/** Serve HTTPS/WSS directly (otherwise TLS terminates at the load balancer); the files are read at start. */
const tls = z.object({ TLS_CERT_FILE: optionalString, TLS_KEY_FILE: optionalString }).transform((e, ctx) => {
  if ((e.TLS_CERT_FILE === undefined) !== (e.TLS_KEY_FILE === undefined)) {
    problem(ctx, "TLS_CERT_FILE, TLS_KEY_FILE: set both or neither");
  }
  return e.TLS_CERT_FILE && e.TLS_KEY_FILE
    ? { certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE }
    : undefined;
});

const cors = z.object({ CORS_ORIGINS: list }).transform((e, ctx) => {
  for (const origin of e.CORS_ORIGINS) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      problem(ctx, `CORS_ORIGINS: "${origin}" must be an origin like https://app.example.com (no path)`);
    }
  }
  return {
    origins: e.CORS_ORIGINS.filter((o) => o !== "*"),
    allowAll: e.CORS_ORIGINS.includes("*"),
    // Never in production, which requires CORS_ORIGINS (production.ts).
    allowAnyLocalhost: e.CORS_ORIGINS.length === 0,
  };
});

const http = z
  .object({
    HTTP_BODY_LIMIT: z
      .string()
      .regex(/^\d+(b|kb|mb)$/i, "like 100kb or 1mb")
      .default("256kb"),
  })
  .transform((e) => ({ bodyLimit: e.HTTP_BODY_LIMIT }));

/** Bearer token for GET /metrics; undefined: open (keep the port private then). */
const metrics = z.object({ METRICS_TOKEN: optionalString }).transform((e) => ({ token: e.METRICS_TOKEN }));

const REDIS_MODES = ["standalone", "cluster", "sentinel"] as const;

const redis = z
  .object({
    REDIS_URL: optionalString.pipe(
      z
        .string()
        .regex(/^rediss?:\/\//, "must start with redis:// or rediss://")
        // A password with an unencoded `@`, `/` or space breaks the URL: say so here, not in a stack trace.
        .refine((url) => URL.canParse(url), "is not a valid URL (percent-encode special characters)")
        .optional(),
    ),
    REDIS_MODE: z.enum(REDIS_MODES).default("standalone"),
    REDIS_CLUSTER_NODES: list,
    REDIS_SENTINELS: list,
    REDIS_SENTINEL_NAME: optionalString,
    REDIS_ADAPTER: z.enum(["auto", "classic", "sharded"]).default("auto"),
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{0,64}$/, "letters, digits and _ . : - only")
      .default("rt:"),
  })
  .transform((e, ctx) => {
    for (const name of ["REDIS_CLUSTER_NODES", "REDIS_SENTINELS"] as const) {
      for (const entry of e[name]) {
        if (!isHostPort(entry)) problem(ctx, `${name}: "${entry}" must be host:port`);
      }
    }
    if (e.REDIS_MODE !== "standalone" && e.REDIS_URL === undefined) {
      problem(ctx, `REDIS_URL: required with REDIS_MODE=${e.REDIS_MODE} (it carries credentials and TLS)`);
    }
    if (e.REDIS_MODE === "sentinel") {
      if (e.REDIS_SENTINELS.length === 0) problem(ctx, "REDIS_SENTINELS: required with REDIS_MODE=sentinel");
      if (e.REDIS_SENTINEL_NAME === undefined)
        problem(ctx, "REDIS_SENTINEL_NAME: required with REDIS_MODE=sentinel");
    }
    return {
      /** Unset: no Redis at all (single instance, in-memory). In every mode it carries credentials and TLS. */
      url: e.REDIS_URL,
      keyPrefix: e.REDIS_KEY_PREFIX,
      mode: e.REDIS_MODE,
      /** Cluster seeds; the URL's host is the seed when empty. */
      clusterNodes: hostPorts(e.REDIS_CLUSTER_NODES),
      sentinels: hostPorts(e.REDIS_SENTINELS),
      sentinelName: e.REDIS_SENTINEL_NAME,
      /** auto: sharded pub/sub when the server is Redis >= 7, classic otherwise. */
      adapter: e.REDIS_ADAPTER,
    };
  });

const socket = z
  .object({
    SOCKET_MAX_HTTP_BUFFER_SIZE: int(1024, 16 * 1024 * 1024).default(64 * 1024),
    SOCKET_MAX_BUFFERED_BYTES: int(16 * 1024, 1024 * 1024 * 1024).default(1024 * 1024),
    MAX_CONNECTIONS_PER_USER: int(1, 100_000).default(10),
    RATE_CONNECT_PER_IP_PER_MIN: int(1, 1_000_000).default(300),
    HANDSHAKE_MAX_IN_FLIGHT: int(1, 1_000_000).default(256),
    MAX_CONNECTIONS_PER_INSTANCE: int(0, 10_000_000).default(0),
  })
  .transform((e) => ({
    maxHttpBufferSize: e.SOCKET_MAX_HTTP_BUFFER_SIZE,
    maxBufferedBytes: e.SOCKET_MAX_BUFFERED_BYTES,
    maxConnectionsPerUser: e.MAX_CONNECTIONS_PER_USER,
    connectPerIpPerMin: e.RATE_CONNECT_PER_IP_PER_MIN,
    /** Handshakes in progress on this instance at most; beyond, UNAVAILABLE at once (infra/admission.ts). */
    handshakeMaxInFlight: e.HANDSHAKE_MAX_IN_FLIGHT,
    /** Connections held at most; 0: what the open-file limit leaves (infra/open-files.ts). */
    maxConnectionsPerInstance: e.MAX_CONNECTIONS_PER_INSTANCE,
  }));

const chat = z
  .object({
    CHAT_MAX_MESSAGE_LENGTH: int(1, 100_000).default(4000),
    CHAT_HISTORY_LIMIT: int(10, 1_000_000).default(1000),
    CHAT_RETENTION_DAYS: int(0, 3650).default(0),
    RATE_CHAT_SEND_PER_SEC: int(1, 100_000).default(10),
    RATE_CHAT_SEND_BURST: int(1, 100_000).default(20),
    RATE_CHAT_TYPING_PER_SEC: int(1, 100_000).default(5),
    RATE_CHAT_JOIN_PER_SEC: int(1, 100_000).default(20),
    CHAT_EDIT_WINDOW_SEC: int(0, 31_536_000).default(900),
    RATE_CHAT_EDIT_PER_SEC: int(1, 100_000).default(5),
    RATE_CHAT_REACT_PER_SEC: int(1, 100_000).default(10),
  })
  .transform((e) => ({
    maxMessageLength: e.CHAT_MAX_MESSAGE_LENGTH,
    historyLimit: e.CHAT_HISTORY_LIMIT,
    /** 0: kept until trimmed by historyLimit. */
    retentionDays: e.CHAT_RETENTION_DAYS,
    /** 0: a message can be edited at any time. */
    editWindowSec: e.CHAT_EDIT_WINDOW_SEC,
    rate: {
      sendPerSec: e.RATE_CHAT_SEND_PER_SEC,
      sendBurst: e.RATE_CHAT_SEND_BURST,
      typingPerSec: e.RATE_CHAT_TYPING_PER_SEC,
      joinPerSec: e.RATE_CHAT_JOIN_PER_SEC,
      editPerSec: e.RATE_CHAT_EDIT_PER_SEC,
      reactPerSec: e.RATE_CHAT_REACT_PER_SEC,
    },
  }));

const presence = z
  .object({
    PRESENCE_TTL_MS: int(300, 3_600_000).default(15_000),
    PRESENCE_GRACE_MS: int(0, 3_600_000).default(5_000),
    RATE_PRESENCE_SET_PER_SEC: int(1, 100_000).default(5),
    RATE_PRESENCE_SUBSCRIBE_PER_SEC: int(1, 100_000).default(5),
  })
  .transform((e) => ({
    ttlMs: e.PRESENCE_TTL_MS,
    graceMs: e.PRESENCE_GRACE_MS,
    rate: { setPerSec: e.RATE_PRESENCE_SET_PER_SEC, subscribePerSec: e.RATE_PRESENCE_SUBSCRIBE_PER_SEC },
  }));

const notifications = z
  .object({
    NOTIFICATION_LIMIT: int(1, 100_000).default(500),
    NOTIFICATION_TTL_DAYS: int(1, 3650).default(30),
  })
  .transform((e) => ({ limit: e.NOTIFICATION_LIMIT, ttlDays: e.NOTIFICATION_TTL_DAYS }));

const internalApi = z
  .object({
    INTERNAL_API_KEY: optionalString,
    RATE_INTERNAL_API_PER_SEC: int(1, 1_000_000).default(200),
  })
  .transform((e) => ({
    /** Unset: every /internal route answers 404. */
    key: e.INTERNAL_API_KEY,
    ratePerSec: e.RATE_INTERNAL_API_PER_SEC,
  }));

/** Every event a webhook can carry (src/webhooks/events.ts has their payloads). */
export const WEBHOOK_EVENT_TYPES = [
  "user.online",
  "user.offline",
  "room.occupied",
  "room.vacated",
  "chat.message.created",
  "notification.undelivered",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Standard Webhooks secrets: `whsec_` then base64 of 24 to 64 random bytes. */
const WEBHOOK_SECRET_FORM = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

const webhooks = z
  .object({
    WEBHOOK_URL: optionalString.pipe(
      z
        .string()
        .regex(/^https?:\/\//, "must start with http:// or https://")
        .refine((url) => URL.canParse(url), "is not a valid URL")
        .optional(),
    ),
    WEBHOOK_SECRET: optionalString,
    WEBHOOK_EVENTS: list,
    WEBHOOK_TIMEOUT_MS: int(100, 60_000).default(5_000),
    WEBHOOK_RETRY_WINDOW_MS: int(1_000, 30 * 86_400_000).default(86_400_000),
    WEBHOOK_RETRY_BASE_MS: int(10, 3_600_000).default(1_000),
    WEBHOOK_RETRY_MAX_MS: int(10, 86_400_000).default(600_000),
    WEBHOOK_CLAIM_IDLE_MS: int(500, 3_600_000).default(30_000),
    WEBHOOK_POLL_MS: int(10, 60_000).default(250),
    WEBHOOK_RECOVERY_SCAN_MS: int(1_000, 86_400_000).default(300_000),
    WEBHOOK_CONCURRENCY: int(1, 1_000).default(16),
    WEBHOOK_DEAD_LETTER_MAX: int(10, 10_000_000).default(10_000),
  })
  .transform((e, ctx) => {
    const secret = e.WEBHOOK_SECRET;
    if (secret !== undefined) {
      const bytes = WEBHOOK_SECRET_FORM.test(secret) ? Buffer.from(secret.slice(6), "base64").length : 0;
      if (bytes < 24 || bytes > 64) {
        problem(ctx, "WEBHOOK_SECRET: must be whsec_ followed by base64 of 24 to 64 random bytes");
      }
    }
    if (e.WEBHOOK_URL !== undefined && secret === undefined) {
      problem(ctx, "WEBHOOK_SECRET: required with WEBHOOK_URL (every delivery is signed)");
    }
    const known = new Set<string>(WEBHOOK_EVENT_TYPES);
    for (const name of e.WEBHOOK_EVENTS) {
      if (!known.has(name)) {
        problem(ctx, `WEBHOOK_EVENTS: "${name}" is not an event (${WEBHOOK_EVENT_TYPES.join(", ")})`);
      }
    }
    if (e.WEBHOOK_RETRY_MAX_MS < e.WEBHOOK_RETRY_BASE_MS) {
      problem(ctx, "WEBHOOK_RETRY_MAX_MS: must be at least WEBHOOK_RETRY_BASE_MS");
    }
    if (e.WEBHOOK_URL === undefined || secret === undefined) return { enabled: false as const };
    return {
      enabled: true as const,
      url: e.WEBHOOK_URL,
      secret,
      /** Empty WEBHOOK_EVENTS: every event. */
      events: (e.WEBHOOK_EVENTS.length > 0 ? e.WEBHOOK_EVENTS : WEBHOOK_EVENT_TYPES) as WebhookEventType[],
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      retryWindowMs: e.WEBHOOK_RETRY_WINDOW_MS,
      retryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: e.WEBHOOK_RETRY_MAX_MS,
      claimIdleMs: e.WEBHOOK_CLAIM_IDLE_MS,
      pollMs: e.WEBHOOK_POLL_MS,
      recoveryScanMs: e.WEBHOOK_RECOVERY_SCAN_MS,
      concurrency: e.WEBHOOK_CONCURRENCY,
      deadLetterMax: e.WEBHOOK_DEAD_LETTER_MAX,
    };
  });

/** The demo page and its token endpoint (`/demo`); on by default outside production only. */
const demo = z
  .object({
    NODE_ENV: nodeEnv,
    DEMO_ENABLED: flag.optional(),
  })
  .transform((e) => ({
    enabled: e.DEMO_ENABLED === undefined ? e.NODE_ENV !== "production" : e.DEMO_ENABLED === "true",
  }));

/**
 * Socket.IO Admin UI instrumentation (`/admin` namespace) and its page (`/admin/`), behind its
 * own username and password. `development` mode also sends every socket, room and event to the UI.
 */
const admin = z
  .object({
    ADMIN_UI_ENABLED: flag.default("false"),
    ADMIN_UI_USERNAME: z
      .string()
      .regex(/^[A-Za-z0-9_.@-]{1,64}$/, "letters, digits and _ . @ - only")
      .default("admin"),
    ADMIN_UI_PASSWORD: optionalString,
    ADMIN_UI_MODE: z.enum(["production", "development"]).default("production"),
  })
  .transform(
    (
      e,
      ctx,
    ):
      | { enabled: false }
      | { enabled: true; username: string; password: string; mode: typeof e.ADMIN_UI_MODE } => {
      if (e.ADMIN_UI_ENABLED !== "true") return { enabled: false };
      const password = e.ADMIN_UI_PASSWORD;
      if (password === undefined) {
        problem(ctx, "ADMIN_UI_PASSWORD: required with ADMIN_UI_ENABLED=true");
        return { enabled: false };
      }
      if (password === e.ADMIN_UI_USERNAME) problem(ctx, "ADMIN_UI_PASSWORD: must not be the username");
      return { enabled: true, username: e.ADMIN_UI_USERNAME, password, mode: e.ADMIN_UI_MODE };
    },
  );

/** Nested in the Config under their names: `config.redis`, `config.chat`, … */
export const sections = {
  tls,
  cors,
  http,
  metrics,
  redis,
  jwt: jwtSection,
  socket,
  chat,
  presence,
  notifications,
  internalApi,
  roomAccess: roomAccessSection,
  messageHook: messageHookSection,
  webhooks,
  demo,
  admin,
};

/** Every setting, typed by the schemas above. */
export type Settings = z.output<typeof processSection> & {
  [K in keyof typeof sections]: z.output<(typeof sections)[K]>;
};
