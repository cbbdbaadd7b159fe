import { fileURLToPath } from "node:url";
import type { FeatureDeps } from "../app.js";
import type { Feature } from "../infra/feature.js";
import type { NotificationService } from "../notifications/index.js";
import { createDemoRouter } from "./http.js";
import { createDemoService } from "./service.js";

/** Both src/demo/ and dist/demo/ sit two levels below the project root. */
export const DEMO_STATIC_DIR = fileURLToPath(new URL("../../dist/public/demo/", import.meta.url));

/** Tokens minted per client address per minute: enough for a team trying the demo, not for a script. */
const TOKEN_RATE = { points: 20, durationSec: 60 };
const NOTIFY_RATE = { points: 5, durationSec: 10 };

/**
 * The demo page and its development-only endpoints. Built only when DEMO_ENABLED (never in
 * production): it hands out tokens to anyone who asks.
 */
export function createDemoFeature(
  deps: FeatureDeps,
  services: { notifications: Pick<NotificationService, "publish"> },
  options: { staticDir?: string } = {},
): Feature {
  const logger = deps.logger.child({ module: "demo" });
  const service = createDemoService({ jwt: deps.config.jwt, notifications: services.notifications, logger });
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
