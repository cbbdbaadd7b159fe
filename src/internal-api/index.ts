import type { Revocations } from "../auth/revocation.js";
import type { Feature } from "../infra/feature.js";
import type { AppServer } from "../infra/socket-server.js";
import { AppError, userRoom } from "../protocol/index.js";
import { createInternalApi, type InternalApiDeps, type InternalApiOptions } from "./router.js";

export type { InstanceInfo, InternalApiOptions, InternalReads, RoomMessages } from "./router.js";

export interface InternalApiFeatureDeps extends Omit<InternalApiDeps, "disconnectUser" | "revokeUser"> {
  /** Where revocations are kept and announced to every instance. */
  revocations: Pick<Revocations, "revoke">;
  /** Disconnects through the adapter, so that sockets on other instances go too. */
  sockets: Pick<AppServer, "in">;
  /** Whether the adapter's Redis links are up now (always, without Redis). */
  adapterReady(): boolean;
}

/** The internal HTTP API as a feature: routes only, no socket events. */
export function createInternalApiFeature(options: InternalApiOptions, deps: InternalApiFeatureDeps): Feature {
  const { sockets, adapterReady, revocations, ...routerDeps } = deps;
  const disconnectUser = (userId: string) => {
    // While this instance's Redis links are down the adapter would queue the request and
    // deliver it, once they are back, to whichever instances are subscribed by then (often
    // only this one): refuse it instead, with nothing queued, and let the caller retry.
    if (!adapterReady()) {
      throw new AppError("UNAVAILABLE", "Redis is unavailable: nobody was disconnected, retry");
    }
    sockets.in(userRoom(userId)).disconnectSockets(true);
  };
  return {
    name: "internal-api",
    httpRouter: createInternalApi(options, {
      ...routerDeps,
      disconnectUser,
      async revokeUser(userId, beforeMs) {
        // Checked first so that a 503 means nothing was done; a retry is then complete.
        if (!adapterReady()) {
          throw new AppError("UNAVAILABLE", "Redis is unavailable: nothing was revoked, retry");
        }
        const inForce = await revocations.revoke(userId, beforeMs);
        disconnectUser(userId);
        return inForce;
      },
    }),
  };
}
