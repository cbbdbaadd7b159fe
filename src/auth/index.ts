import type { AppSocket } from "../infra/event-router.js";
import type { Feature } from "../infra/feature.js";
import type { HandshakeStep } from "../infra/handshake.js";
import type { Logger } from "../infra/logger.js";
import type { RateLimiterFactory } from "../infra/rate-limit.js";
import { userRoom } from "../protocol/index.js";
import { createAddressLimit } from "./connection-limits.js";
import { createRevocationCheck, type Revocations, withRevocation } from "./revocation.js";
import { createAuthentication, createTokenLifecycle } from "./socket-auth.js";
import type { TokenVerifier } from "./verifier.js";

export interface AuthOptions {
  /** JWT_CLOCK_TOLERANCE_SEC: a token is valid until `exp` plus this. */
  clockToleranceSec: number;
  /** RATE_CONNECT_PER_IP_PER_MIN: handshakes per client address, before the token is checked. */
  connectPerIpPerMin: number;
}

export interface AuthDeps {
  /** The keys' verdict only: revocations are checked beside it (below). */
  verifier: TokenVerifier;
  /**
   * Checked in the handshake's admit phase and by `auth:refresh`; its channel is followed
   * while the feature runs.
   */
  revocations: Pick<Revocations, "start" | "stop" | "isRevoked">;
  rateLimiter: RateLimiterFactory;
  logger: Logger;
  /**
   * After `auth:refresh` replaced a socket's user: the other features drop what the new
   * claims no longer grant and resolve with the rooms the socket left.
   */
  onUserChanged(socket: AppSocket): Promise<string[]>;
}

/**
 * The socket joins `user:<id>`, through which notifications and disconnects reach every
 * socket of the user. Awaited: once connected, a broadcast to the room reaches this socket
 * from every instance (with sharded pub/sub the room's subscription is confirmed first). In
 * the admit phase, so that the subscription's round trip (on the subscriber connection)
 * runs alongside the admission's. A socket refused after all (or whose client left) leaves
 * every room as Socket.IO drops it (`socket._cleanup()`), this one included.
 */
const joinUserRoom: HandshakeStep = {
  phase: "admit",
  async run(socket) {
    await socket.join(userRoom(socket.data.user.id));
  },
};

/**
 * Who may connect, and for how long: the per-address handshake limit, the token check,
 * the user's room, the expiry of the token on the live socket and `auth:refresh`.
 */
export function createAuthFeature(options: AuthOptions, deps: AuthDeps): Feature {
  const { logger } = deps;
  const tokens = createTokenLifecycle({
    verifier: withRevocation(deps.verifier, deps.revocations),
    logger,
    clockToleranceSec: options.clockToleranceSec,
    onUserChanged: deps.onUserChanged,
  });
  const perAddress = deps.rateLimiter("connect-ip", { points: options.connectPerIpPerMin, durationSec: 60 });
  const addressLimit = createAddressLimit({ perAddress, logger });
  return {
    name: "auth",
    handshake: [
      addressLimit.screen,
      createAuthentication({ verifier: deps.verifier, logger, countRefused: addressLimit.countRefused }),
      addressLimit.count,
      createRevocationCheck(deps.revocations),
      joinUserRoom,
    ],
    register: tokens.register,
    onConnection: tokens.onConnection,
    onDisconnect: tokens.onDisconnect,
    start: () => deps.revocations.start(),
    // Token expiry acts on live sockets until every one is closed.
    close() {
      tokens.stop();
      deps.revocations.stop();
    },
  };
}
