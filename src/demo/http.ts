import { existsSync } from "node:fs";
import { join } from "node:path";
import express, { type RequestHandler, type Router } from "express";
import { z } from "zod";
import type { TokenVerifier } from "../auth/verifier.js";
import { bearerToken } from "../infra/bearer.js";
import type { RateLimiter } from "../infra/rate-limit.js";
import { AppError, describeIssues } from "../protocol/index.js";
import type { DemoService } from "./service.js";

/**
 * The page's own policy, stricter than the service-wide one (no inline styles at all) and
 * without `upgrade-insecure-requests`, which would send a plain-HTTP demo's scripts to https.
 */
export const DEMO_CSP = [
  "default-src 'self'",
  "base-uri 'none'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join("; ");

const tokenBody = z.object({ name: z.string().max(256) });
const notifyBody = z
  .object({ text: z.string().max(200).optional() })
  .optional()
  .default({});

export interface DemoRouterDeps {
  service: DemoService;
  verifier: TokenVerifier;
  /** Where `npm run build` puts the page (index.html, app.js, styles.css). */
  staticDir: string;
  /** Per client address. */
  tokenLimit: RateLimiter;
  /** Per user. */
  notifyLimit: RateLimiter;
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new AppError("INVALID_PAYLOAD", "invalid request body", { fields: describeIssues(parsed.error) });
  }
  return parsed.data;
}

/** `/demo` (the page), `POST /demo/token` and `POST /demo/notify`: mounted only when DEMO_ENABLED. */
export function createDemoRouter(deps: DemoRouterDeps): Router {
  const router = express.Router();

  router.post("/demo/token", async (req, res) => {
    await deps.tokenLimit.consume(req.ip ?? "unknown");
    const { name } = parse(tokenBody, req.body);
    res.set("Cache-Control", "no-store");
    res.json(await deps.service.mintToken(name));
  });

  router.post("/demo/notify", async (req, res) => {
    const token = bearerToken(req.get("authorization"));
    if (token === undefined) {
      res.set("WWW-Authenticate", "Bearer");
      throw new AppError("UNAUTHORIZED", "send the demo token as Authorization: Bearer <token>");
    }
    const { user } = await deps.verifier.verify(token);
    await deps.notifyLimit.consume(user.id);
    const { text } = parse(notifyBody, req.body);
    res.status(202).json(await deps.service.notifySelf(user, text));
  });

  const page: RequestHandler = (_req, res, next) => {
    res.set("Content-Security-Policy", DEMO_CSP);
    if (!existsSync(join(deps.staticDir, "index.html"))) {
      throw new AppError("UNAVAILABLE", "the demo page is not built: run `npm run build`");
    }
    next();
  };
  router.use(
    "/demo",
    page,
    express.static(deps.staticDir, {
      index: "index.html",
      // Unhashed file names: revalidate (ETag) so a rebuilt page is picked up at once.
      setHeaders: (res) => res.set("Cache-Control", "no-cache"),
    }),
  );

  return router;
}
