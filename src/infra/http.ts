import cors from "cors";
import express, { type ErrorRequestHandler, type Router } from "express";
import helmet from "helmet";
import { AppError, httpStatusOf } from "../protocol/index.js";
import { clientErrorOf } from "./client-error.js";
import type { Logger } from "./logger.js";
import type { OriginCheck, OriginRefusal } from "./origin.js";

/** undefined when ready, otherwise the reason it is not. */
export type ReadinessCheck = () => string | undefined;

export interface HttpAppOptions {
  instanceId: string;
  version: string;
  startedAt: number;
  bodyLimit: string;
  isOriginAllowed: OriginCheck;
  /** Told of every request whose Origin gets no CORS headers. */
  onOriginRefused?: OriginRefusal;
  readiness: ReadinessCheck;
  logger: Logger;
  /** Feature routes (internal API, demo), mounted after the probes and before the 404 handler. */
  routes?: Router;
  /** Pages of enabled features that `GET /` points to, such as `{demo: "/demo"}`. */
  links?: Record<string, string>;
}

/** Where `GET /` sends a person who opened the service's address in a browser or with curl. */
const DOCS =
  "README.md of the service's repository, and its docs/: protocol.md, configuration.md, operations.md";

export function createHttpApp(options: HttpAppOptions): express.Express {
  const log = options.logger.child({ module: "http" });
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", "loopback, linklocal, uniquelocal");
  app.use(helmet());
  // The delegate form: the check needs the request's Host (same-origin pages are allowed).
  app.use(
    cors((req, callback) => {
      const { origin, host } = req.headers;
      const allowed = options.isOriginAllowed(origin, host);
      if (!allowed && origin !== undefined) options.onOriginRefused?.(origin, host, "http");
      callback(null, { origin: allowed, credentials: true, maxAge: 600 });
    }),
  );

  // Probes stay quiet: a load balancer polls them every few seconds.
  app.get("/health", (_req, res) => {
    res.json({
      status: "ok",
      instanceId: options.instanceId,
      version: options.version,
      uptimeSec: Math.round((Date.now() - options.startedAt) / 1000),
    });
  });
  app.get("/ready", (_req, res) => {
    const reason = options.readiness();
    if (reason === undefined) res.json({ status: "ready", instanceId: options.instanceId });
    else res.status(503).json({ status: "not_ready", reason, instanceId: options.instanceId });
  });

  app.get("/", (_req, res) => {
    res.json({
      service: "realtime-socket-server",
      version: options.version,
      instanceId: options.instanceId,
      links: { health: "/health", ready: "/ready", metrics: "/metrics", ...options.links },
      socketIo: { path: "/socket.io", auth: "auth: { token: <JWT> }" },
      docs: DOCS,
    });
  });

  app.use(express.json({ limit: options.bodyLimit }));
  if (options.routes) app.use(options.routes);

  app.use((req, res) => {
    res.status(404).json({ error: { code: "NOT_FOUND", message: `no route for ${req.method} ${req.path}` } });
  });

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    // Every route's errors end here: a Redis outage is the client's UNAVAILABLE (retry),
    // a rate limit carries Retry-After, and only AppError codes ever reach the client.
    const known = clientErrorOf(err);
    if (known) {
      if (known.retryAfterMs !== undefined)
        res.set("Retry-After", String(Math.ceil(known.retryAfterMs / 1000)));
      res.status(httpStatusOf[known.code]).json({ error: known.toBody() });
      return;
    }
    // body-parser errors carry a status and a type; they are the client's fault.
    const status = typeof err?.status === "number" ? err.status : 500;
    if (status >= 400 && status < 500) {
      const message = status === 413 ? "request body too large" : "malformed request body";
      res.status(status).json({ error: { code: "INVALID_PAYLOAD", message } });
      return;
    }
    log.error({ err, method: req.method, path: req.path }, "request failed");
    res.status(500).json({ error: new AppError("INTERNAL").toBody() });
  };
  app.use(onError);
  return app;
}
