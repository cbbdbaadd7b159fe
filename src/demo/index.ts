import { fileURLToPath } from "node:url";
import type { TokenVerifier } from "../auth/verifier.js";
import type { Feature } from "../infra/feature.js";
import type { Logger } from "../infra/logger.js";
import type { RateLimiterFactory } from "../infra/rate-limit.js";
import type { NotificationService } from "../notifications/index.js";
import { createDemoRouter } from "./http.js";
import { createDemoService, type DemoServiceDeps } from "./service.js";

/** Both src/demo/ and dist/demo/ sit two levels below the project root. */
export const DEMO_STATIC_DIR = fileURLToPath(new URL("../../dist/public/demo/", import.meta.url));

/** Tokens minted per client address per minute: enough for a team trying the demo, not for a script. */
const TOKEN_RATE = { points: 20, durationSec: 60 };
const NOTIFY_RATE = { points: 5, durationSec: 10 };

export interface DemoOptions {
  /** The service's JWT settings: the demo signs with JWT_SECRET, or mints nothing without it. */
  jwt: DemoServiceDeps["jwt"];
  /** Where `npm run build` put the page. */
  staticDir?: string;
}

export interface DemoDeps {
  notifications: Pick<NotificationService, "publish">;
  /** Checks the demo token of POST /demo/notify. */
  verifier: TokenVerifier;
  rateLimiter: RateLimiterFactory;
  logger: Logger;
}

/**
 * The demo page and its development-only endpoints. Built only when DEMO_ENABLED (never in
 * production): it hands out tokens to anyone who asks.
 */
export function createDemoFeature(options: DemoOptions, deps: DemoDeps): Feature {
  const logger = deps.logger.child({ module: "demo" });
  const service = createDemoService({ jwt: options.jwt, notifications: deps.notifications, logger });
  return {
    name: "demo",
    httpRouter: createDemoRouter({
      service,
      verifier: deps.verifier,
      staticDir: options.staticDir ?? DEMO_STATIC_DIR,
      tokenLimit: deps.rateLimiter("demo-token", TOKEN_RATE),
      notifyLimit: deps.rateLimiter("demo-notify", NOTIFY_RATE),
    }),
  };
}
