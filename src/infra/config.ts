import { existsSync } from "node:fs";
import { z } from "zod";

/**
 * The service's whole configuration, parsed from environment variables once, in
 * `loadConfig`. Nothing else reads `process.env`. Every variable is documented in
 * `.env.example` and the README.
 */

const DEV_JWT_SECRET = "dev-only-insecure-secret-change-me-0123456789";

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: int(0, 65535).default(3000),
  HOST: z.string().min(1).default("0.0.0.0"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  LOG_FORMAT: z.enum(["json", "pretty"]).default("json"),
  INSTANCE_ID: optionalString,

  CORS_ORIGINS: list,

  REDIS_URL: optionalString.pipe(
    z
      .string()
      .regex(/^rediss?:\/\//, "must start with redis:// or rediss://")
      .optional(),
  ),
  REDIS_MODE: z.enum(["standalone", "cluster", "sentinel"]).default("standalone"),
  REDIS_CLUSTER_NODES: list,
  REDIS_SENTINELS: list,
  REDIS_SENTINEL_NAME: optionalString,
  REDIS_ADAPTER: z.enum(["auto", "classic", "sharded"]).default("auto"),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{0,64}$/, "letters, digits and _ . : - only")
    .default("rt:"),

  JWT_SECRET: optionalString,
  JWT_PUBLIC_KEY: optionalString,
  JWT_JWKS_URL: optionalString.pipe(z.url({ message: "must be a URL" }).optional()),
  JWT_ALGORITHMS: list,
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  JWT_CLOCK_TOLERANCE_SEC: int(0, 300).default(5),

  INTERNAL_API_KEY: optionalString,
  METRICS_TOKEN: optionalString,
  SHUTDOWN_GRACE_MS: int(0, 600_000).default(10_000),
  TLS_CERT_FILE: optionalString,
  TLS_KEY_FILE: optionalString,

  SOCKET_MAX_HTTP_BUFFER_SIZE: int(1024, 16 * 1024 * 1024).default(64 * 1024),
  MAX_CONNECTIONS_PER_USER: int(1, 100_000).default(10),
  RATE_CONNECT_PER_IP_PER_MIN: int(1, 1_000_000).default(300),
  SOCKET_MAX_BUFFERED_BYTES: int(16 * 1024, 1024 * 1024 * 1024).default(1024 * 1024),
  HTTP_BODY_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, "like 100kb or 1mb")
    .default("256kb"),

  CHAT_MAX_MESSAGE_LENGTH: int(1, 100_000).default(4000),
  CHAT_HISTORY_LIMIT: int(10, 1_000_000).default(1000),
  CHAT_RETENTION_DAYS: int(0, 3650).default(0),
  RATE_CHAT_SEND_PER_SEC: int(1, 100_000).default(10),
  RATE_CHAT_SEND_BURST: int(1, 100_000).default(20),
  RATE_CHAT_TYPING_PER_SEC: int(1, 100_000).default(5),
  RATE_CHAT_JOIN_PER_SEC: int(1, 100_000).default(20),

  PRESENCE_TTL_MS: int(300, 3_600_000).default(15_000),
  PRESENCE_GRACE_MS: int(0, 3_600_000).default(5_000),
  RATE_PRESENCE_SET_PER_SEC: int(1, 100_000).default(5),
  RATE_PRESENCE_SUBSCRIBE_PER_SEC: int(1, 100_000).default(5),

  NOTIFICATION_LIMIT: int(1, 100_000).default(500),
  NOTIFICATION_TTL_DAYS: int(1, 3650).default(30),
  RATE_INTERNAL_API_PER_SEC: int(1, 1_000_000).default(200),

  DEMO_ENABLED: z.enum(["true", "false"], { message: 'must be "true" or "false"' }).optional(),

  ADMIN_UI_ENABLED: z.enum(["true", "false"], { message: 'must be "true" or "false"' }).default("false"),
  ADMIN_UI_USERNAME: z
    .string()
    .regex(/^[A-Za-z0-9_.@-]{1,64}$/, "letters, digits and _ . @ - only")
    .default("admin"),
  ADMIN_UI_PASSWORD: optionalString,
  ADMIN_UI_MODE: z.enum(["production", "development"]).default("production"),
});

type Env = z.infer<typeof envSchema>;

/** The shortest ADMIN_UI_PASSWORD production accepts (NIST SP 800-63B asks 15 for a password used alone). */
export const ADMIN_PASSWORD_MIN_PRODUCTION = 16;

/** The names of every variable the service reads (documented in .env.example). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

export type JwtKeyConfig =
  | { kind: "secret"; secret: string; development: boolean }
  | { kind: "publicKey"; pem: string }
  | { kind: "jwks"; url: string };

export interface Config {
  env: Env["NODE_ENV"];
  isProduction: boolean;
  port: number;
  host: string;
  logLevel: Env["LOG_LEVEL"];
  /** `pretty` formats lines for a person in development; collectors want `json`. */
  logFormat: Env["LOG_FORMAT"];
  /** Stable for the process; every log line and /health carry it. */
  instanceId: string | undefined;
  version: string;
  cors: { origins: string[]; allowAnyLocalhost: boolean; allowAll: boolean };
  redis: {
    /** Unset: no Redis at all (single instance, in-memory). In every mode it carries credentials and TLS. */
    url: string | undefined;
    keyPrefix: string;
    mode: "standalone" | "cluster" | "sentinel";
    /** Cluster seeds; the URL's host is the seed when empty. */
    clusterNodes: { host: string; port: number }[];
    sentinels: { host: string; port: number }[];
    sentinelName: string | undefined;
    /** auto: sharded pub/sub when the server is Redis >= 7, classic otherwise. */
    adapter: "auto" | "classic" | "sharded";
  };
  jwt: {
    key: JwtKeyConfig;
    algorithms: string[];
    issuer: string | undefined;
    audience: string | undefined;
    clockToleranceSec: number;
  };
  internalApiKey: string | undefined;
  /** Bearer token for GET /metrics; undefined: open (keep the port private then). */
  metricsToken: string | undefined;
  shutdownGraceMs: number;
  /** Serve HTTPS/WSS directly (otherwise TLS terminates at the load balancer). */
  tls: { certFile: string; keyFile: string } | undefined;
  socket: {
    maxHttpBufferSize: number;
    maxBufferedBytes: number;
    maxConnectionsPerUser: number;
    connectPerIpPerMin: number;
  };
  http: { bodyLimit: string };
  chat: {
    maxMessageLength: number;
    historyLimit: number;
    /** 0: kept until trimmed by historyLimit. */
    retentionDays: number;
    rate: { sendPerSec: number; sendBurst: number; typingPerSec: number; joinPerSec: number };
  };
  presence: {
    ttlMs: number;
    graceMs: number;
    rate: { setPerSec: number; subscribePerSec: number };
  };
  notifications: { limit: number; ttlDays: number };
  internalApi: { ratePerSec: number };
  /** The demo page and its token endpoint (`/demo`); never in production. */
  demo: { enabled: boolean };
  /**
   * Socket.IO Admin UI instrumentation (`/admin` namespace) and its page (`/admin/`), behind its
   * own username and password. `development` mode also sends every socket, room and event to the UI.
   */
  admin:
    | { enabled: false }
    | { enabled: true; username: string; password: string; mode: "production" | "development" };
  /** Warnings to log once the logger exists (config is read before it is). */
  warnings: string[];
}

const HOST_PORT = /^[A-Za-z0-9_.:[\]-]+:\d{1,5}$/;

function hostPorts(entries: string[]): { host: string; port: number }[] {
  return entries
    .filter((entry) => HOST_PORT.test(entry))
    .map((entry) => {
      const at = entry.lastIndexOf(":");
      return { host: entry.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(entry.slice(at + 1)) };
    });
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * Parse and validate the environment. Throws a ConfigError whose message names
 * every bad variable; the caller prints it and exits.
 */
export function loadConfig(source: Record<string, string | undefined>, version = "0.0.0"): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? "environment");
        const value = source[name];
        const shown =
          value === undefined || /SECRET|KEY|TOKEN|PASSWORD/.test(name) ? "" : ` (got "${value}")`;
        return `${name}: ${issue.message}${shown}`;
      }),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  const warnings: string[] = [];
  const isProduction = e.NODE_ENV === "production";

  const keySources = [e.JWT_SECRET, e.JWT_PUBLIC_KEY, e.JWT_JWKS_URL].filter((v) => v !== undefined);
  if (keySources.length > 1) {
    problems.push("JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL: set exactly one of them");
  }
  let key: JwtKeyConfig;
  if (e.JWT_SECRET !== undefined) {
    if (e.JWT_SECRET.length < 32) problems.push("JWT_SECRET: must be at least 32 characters");
    if (isProduction && e.JWT_SECRET === DEV_JWT_SECRET) {
      problems.push("JWT_SECRET: the development secret cannot be used in production");
    }
    key = { kind: "secret", secret: e.JWT_SECRET, development: false };
  } else if (e.JWT_PUBLIC_KEY !== undefined) {
    // Env files often carry PEMs on one line with literal \n.
    const pem = e.JWT_PUBLIC_KEY.replace(/\\n/g, "\n");
    if (!pem.includes("BEGIN PUBLIC KEY")) problems.push("JWT_PUBLIC_KEY: must be a PEM public key (SPKI)");
    key = { kind: "publicKey", pem };
  } else if (e.JWT_JWKS_URL !== undefined) {
    key = { kind: "jwks", url: e.JWT_JWKS_URL };
  } else {
    if (isProduction)
      problems.push("JWT_SECRET / JWT_PUBLIC_KEY / JWT_JWKS_URL: one is required in production");
    warnings.push(
      "NO JWT KEY CONFIGURED: using the built-in development secret. Anyone can mint tokens. Never do this in production.",
    );
    key = { kind: "secret", secret: DEV_JWT_SECRET, development: true };
  }

  const allowedAlgorithms = [
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "ES256",
    "ES384",
    "EdDSA",
  ];
  for (const alg of e.JWT_ALGORITHMS) {
    if (!allowedAlgorithms.includes(alg)) {
      problems.push(`JWT_ALGORITHMS: "${alg}" is not one of ${allowedAlgorithms.join(", ")}`);
    }
  }
  const symmetric = (alg: string) => alg.startsWith("HS");
  let algorithms = e.JWT_ALGORITHMS;
  if (key.kind === "secret") {
    if (algorithms.length === 0) algorithms = ["HS256"];
    if (algorithms.some((a) => !symmetric(a)))
      problems.push("JWT_ALGORITHMS: only HS* algorithms go with JWT_SECRET");
  } else {
    // Never accept an HMAC algorithm with a public key: the key would become the shared secret.
    if (algorithms.some(symmetric))
      problems.push("JWT_ALGORITHMS: HS* algorithms cannot be used with a public key");
  }

  const allowAll = e.CORS_ORIGINS.includes("*");
  for (const origin of e.CORS_ORIGINS) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      problems.push(`CORS_ORIGINS: "${origin}" must be an origin like https://app.example.com (no path)`);
    }
  }
  if (isProduction) {
    if (e.CORS_ORIGINS.length === 0) problems.push("CORS_ORIGINS: required in production");
    if (allowAll) problems.push("CORS_ORIGINS: a wildcard origin is not allowed in production");
  } else if (e.CORS_ORIGINS.length === 0) {
    warnings.push(
      "CORS_ORIGINS is not set: accepting browser origins on localhost only (development default)",
    );
  }

  if (e.REDIS_URL === undefined) {
    warnings.push(
      "REDIS_URL is not set: single instance with in-memory adapter and stores; state is lost on restart",
    );
  }
  if (isProduction && e.INTERNAL_API_KEY !== undefined && e.INTERNAL_API_KEY.length < 24) {
    problems.push("INTERNAL_API_KEY: must be at least 24 characters in production");
  }
  // The demo mints a token for any name it is given: an open door in production.
  if (isProduction && e.DEMO_ENABLED === "true") {
    problems.push("DEMO_ENABLED: the demo cannot be enabled in production (it mints tokens for anyone)");
  }

  problems.push(...adminProblems(e, isProduction));

  for (const [name, entries] of [
    ["REDIS_CLUSTER_NODES", e.REDIS_CLUSTER_NODES],
    ["REDIS_SENTINELS", e.REDIS_SENTINELS],
  ] as const) {
    for (const entry of entries) {
      if (!HOST_PORT.test(entry)) problems.push(`${name}: "${entry}" must be host:port`);
    }
  }
  if (e.REDIS_MODE !== "standalone" && e.REDIS_URL === undefined) {
    problems.push(`REDIS_URL: required with REDIS_MODE=${e.REDIS_MODE} (it carries credentials and TLS)`);
  }
  if (e.REDIS_MODE === "sentinel") {
    if (e.REDIS_SENTINELS.length === 0) problems.push("REDIS_SENTINELS: required with REDIS_MODE=sentinel");
    if (e.REDIS_SENTINEL_NAME === undefined) {
      problems.push("REDIS_SENTINEL_NAME: required with REDIS_MODE=sentinel");
    }
  }

  if ((e.TLS_CERT_FILE === undefined) !== (e.TLS_KEY_FILE === undefined)) {
    problems.push("TLS_CERT_FILE, TLS_KEY_FILE: set both or neither");
  }
  for (const name of ["TLS_CERT_FILE", "TLS_KEY_FILE"] as const) {
    const file = e[name];
    if (file !== undefined && !existsSync(file)) problems.push(`${name}: no such file "${file}"`);
  }

  if (problems.length > 0) throw new ConfigError(problems);

  return {
    env: e.NODE_ENV,
    isProduction,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    instanceId: e.INSTANCE_ID,
    version,
    cors: {
      origins: e.CORS_ORIGINS.filter((o) => o !== "*"),
      allowAll,
      allowAnyLocalhost: !isProduction && e.CORS_ORIGINS.length === 0,
    },
    redis: {
      url: e.REDIS_URL,
      keyPrefix: e.REDIS_KEY_PREFIX,
      mode: e.REDIS_MODE,
      clusterNodes: hostPorts(e.REDIS_CLUSTER_NODES),
      sentinels: hostPorts(e.REDIS_SENTINELS),
      sentinelName: e.REDIS_SENTINEL_NAME,
      adapter: e.REDIS_ADAPTER,
    },
    jwt: {
      key,
      // Empty for a public key or JWKS: the verifier pins the algorithm from the key's type.
      algorithms,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      clockToleranceSec: e.JWT_CLOCK_TOLERANCE_SEC,
    },
    internalApiKey: e.INTERNAL_API_KEY,
    metricsToken: e.METRICS_TOKEN,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    tls:
      e.TLS_CERT_FILE && e.TLS_KEY_FILE ? { certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE } : undefined,
    socket: {
      maxHttpBufferSize: e.SOCKET_MAX_HTTP_BUFFER_SIZE,
      maxBufferedBytes: e.SOCKET_MAX_BUFFERED_BYTES,
      maxConnectionsPerUser: e.MAX_CONNECTIONS_PER_USER,
      connectPerIpPerMin: e.RATE_CONNECT_PER_IP_PER_MIN,
    },
    http: { bodyLimit: e.HTTP_BODY_LIMIT },
    chat: {
      maxMessageLength: e.CHAT_MAX_MESSAGE_LENGTH,
      historyLimit: e.CHAT_HISTORY_LIMIT,
      retentionDays: e.CHAT_RETENTION_DAYS,
      rate: {
        sendPerSec: e.RATE_CHAT_SEND_PER_SEC,
        sendBurst: e.RATE_CHAT_SEND_BURST,
        typingPerSec: e.RATE_CHAT_TYPING_PER_SEC,
        joinPerSec: e.RATE_CHAT_JOIN_PER_SEC,
      },
    },
    presence: {
      ttlMs: e.PRESENCE_TTL_MS,
      graceMs: e.PRESENCE_GRACE_MS,
      rate: { setPerSec: e.RATE_PRESENCE_SET_PER_SEC, subscribePerSec: e.RATE_PRESENCE_SUBSCRIBE_PER_SEC },
    },
    notifications: { limit: e.NOTIFICATION_LIMIT, ttlDays: e.NOTIFICATION_TTL_DAYS },
    internalApi: { ratePerSec: e.RATE_INTERNAL_API_PER_SEC },
    demo: { enabled: e.DEMO_ENABLED === undefined ? !isProduction : e.DEMO_ENABLED === "true" },
    admin:
      e.ADMIN_UI_ENABLED === "true" && e.ADMIN_UI_PASSWORD !== undefined
        ? {
            enabled: true,
            username: e.ADMIN_UI_USERNAME,
            password: e.ADMIN_UI_PASSWORD,
            mode: e.ADMIN_UI_MODE,
          }
        : { enabled: false },
    warnings,
  };
}

/** The admin view is an operator's door into every instance: its own password, strong in production. */
function adminProblems(e: Env, isProduction: boolean): string[] {
  if (e.ADMIN_UI_ENABLED !== "true") return [];
  const password = e.ADMIN_UI_PASSWORD;
  if (password === undefined) return ["ADMIN_UI_PASSWORD: required with ADMIN_UI_ENABLED=true"];
  const problems: string[] = [];
  if (isProduction && password.length < ADMIN_PASSWORD_MIN_PRODUCTION) {
    problems.push(
      `ADMIN_UI_PASSWORD: must be at least ${ADMIN_PASSWORD_MIN_PRODUCTION} characters in production`,
    );
  }
  if (password === e.ADMIN_UI_USERNAME) problems.push("ADMIN_UI_PASSWORD: must not be the username");
  // Development mode copies every event's payload and every handshake's headers (tokens
  // included) to the UI, through Redis to every instance.
  if (isProduction && e.ADMIN_UI_MODE === "development") {
    problems.push("ADMIN_UI_MODE: development mode is refused in production (it shows tokens and payloads)");
  }
  return problems;
}

export const DEVELOPMENT_JWT_SECRET = DEV_JWT_SECRET;
