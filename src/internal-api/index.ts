import type { FeatureDeps } from "../app.js";
import type { Feature } from "../infra/feature.js";
import { userRoom } from "../protocol/index.js";
import { createInternalApi, type InternalApiDeps } from "./router.js";

export type { RoomMessages } from "./router.js";

/** The internal HTTP API as a feature: routes only, no socket events. */
export function createInternalApiFeature(
  deps: FeatureDeps,
  services: Pick<InternalApiDeps, "notifications" | "rooms">,
): Feature {
  return {
    name: "internal-api",
    httpRouter: createInternalApi({
      config: deps.config,
      logger: deps.logger,
      rateLimiter: deps.rateLimiter,
      ...services,
      // Goes through the adapter, so sockets on other instances are disconnected too.
      disconnectUser: (userId) => deps.io.in(userRoom(userId)).disconnectSockets(true),
      onRequest: (route, status) => deps.metrics.internalApiRequests.inc({ route, status: String(status) }),
    }),
  };
}
