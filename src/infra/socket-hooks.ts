import type { DisconnectReason } from "socket.io";
import type { AppSocket, EventRouter } from "./event-router.js";
import type { Feature } from "./feature.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import type { AppServer } from "./socket-server.js";

export interface SocketHooks {
  /** After `auth:refresh` replaced a socket's user: the rooms every feature made it leave. */
  userChanged(socket: AppSocket): Promise<string[]>;
}

/**
 * Every connection's events reach the features through one listener of each kind, the
 * same function for every socket (`this` is the socket): a closure per feature per
 * socket cost each idle connection about 200 bytes apiece (docs/performance.md). A
 * feature whose disconnect hook throws does not keep the others from theirs.
 */
export function attachSocketHooks(
  io: AppServer,
  features: readonly Feature[],
  deps: { router: EventRouter; logger: Logger; metrics: Pick<Metrics, "connections" | "disconnections"> },
): SocketHooks {
  const log = deps.logger.child({ module: "connection" });
  const each = (what: string, socket: AppSocket, hook: (feature: Feature) => void) => {
    for (const feature of features) {
      try {
        hook(feature);
      } catch (err) {
        log.error({ err, feature: feature.name, socketId: socket.id }, `${what} hook failed`);
      }
    }
  };
  function onDisconnecting(this: AppSocket): void {
    each("disconnecting", this, (f) => f.onDisconnecting?.(this));
  }
  function onDisconnect(this: AppSocket, reason: DisconnectReason): void {
    each("disconnect", this, (f) => f.onDisconnect?.(this));
    deps.metrics.disconnections.inc({ reason });
    log.info({ socketId: this.id, userId: this.data.user.id, reason }, "disconnected");
  }

  io.on("connection", (socket) => {
    // Listeners first, synchronously: events sent right after connect must not be lost.
    deps.router.attach(socket);
    for (const feature of features) feature.onConnection?.(socket);
    const transport = socket.conn.transport.name;
    deps.metrics.connections.inc({ transport });
    log.info(
      { socketId: socket.id, userId: socket.data.user.id, transport, address: socket.handshake.address },
      "connected",
    );
    socket.on("disconnecting", onDisconnecting);
    socket.on("disconnect", onDisconnect);
  });

  return {
    async userChanged(socket) {
      return (await Promise.all(features.map((f) => f.onUserChanged?.(socket) ?? []))).flat();
    },
  };
}
