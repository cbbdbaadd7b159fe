import { signToken } from "../auth/sign.js";
import type { JwtKeyConfig } from "../infra/config.js";
import type { Logger } from "../infra/logger.js";
import type { NotificationService } from "../notifications/index.js";
import { AppError, type AuthenticatedUser } from "../protocol/index.js";
import type { DemoToken } from "./token.js";

/** Demo users may join any `demo:` room (DMs are open to their two participants anyway). */
export const DEMO_ROOMS_CLAIM = ["demo:*"];
export const DEMO_TOKEN_TTL_SEC = 60 * 60;
export const DEMO_NAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export interface DemoService {
  /** A token for `name` (the user id is the name in lower case), or NOT_FOUND without a shared secret. */
  mintToken(name: string): Promise<DemoToken>;
  /** A test notification to the caller only. */
  notifySelf(user: AuthenticatedUser, text: string | undefined): Promise<{ id: string }>;
}

export interface DemoServiceDeps {
  jwt: { key: JwtKeyConfig; algorithms: string[]; issuer: string | undefined; audience: string | undefined };
  notifications: Pick<NotificationService, "publish">;
  logger: Logger;
}

export function createDemoService(deps: DemoServiceDeps): DemoService {
  const log = deps.logger;
  const { key } = deps.jwt;

  return {
    async mintToken(name) {
      // With a public key or JWKS the private key lives with the identity provider.
      if (key.kind !== "secret") {
        throw new AppError(
          "NOT_FOUND",
          "the demo can only mint tokens when the service verifies tokens with JWT_SECRET; use your identity provider's tokens",
        );
      }
      if (!DEMO_NAME_PATTERN.test(name)) {
        throw new AppError("INVALID_PAYLOAD", "name must be 1 to 32 letters, digits, _ or -", {
          fields: [{ path: "name", message: "1 to 32 letters, digits, _ or -" }],
        });
      }
      const userId = name.toLowerCase();
      const exp = Math.floor(Date.now() / 1000) + DEMO_TOKEN_TTL_SEC;
      const token = await signToken(
        { sub: userId, name, rooms: DEMO_ROOMS_CLAIM },
        {
          key: key.secret,
          alg: deps.jwt.algorithms[0] ?? "HS256",
          expiresIn: DEMO_TOKEN_TTL_SEC,
          issuer: deps.jwt.issuer,
          audience: deps.jwt.audience,
        },
      );
      log.info({ userId }, "demo token minted");
      return { token, userId, exp };
    },

    async notifySelf(user, text) {
      const { notifications } = await deps.notifications.publish({
        userIds: [user.id],
        type: "demo.test",
        title: "Test notification",
        body: text && text.trim() !== "" ? text.trim() : `Sent to ${user.name ?? user.id} from the demo page`,
      });
      const first = notifications[0];
      if (!first) throw new AppError("INTERNAL");
      return { id: first.id };
    },
  };
}
