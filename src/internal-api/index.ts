import type { FeatureDeps } from "../app.js";
import type { Feature } from "../infra/feature.js";
import { AppError, userRoom } from "../protocol/index.js";
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
      // Goes through the adapter, so sockets on other instances are disconnected too. While
      // this instance's Redis links are down the adapter would queue the request and deliver
      // it, once they are back, to whichever instances are subscribed by then (often only
      // this one): refuse it instead, with nothing queued, and let the caller retry.
      disconnectUser(userId) {
        if (deps.redis && !deps.redis.isReady()) {
          throw new AppError("UNAVAILABLE", "Redis is unavailable: nobody was disconnected, retry");
        }
        deps.io.in(userRoom(userId)).disconnectSockets(true);
      },
    }),
  };
}
