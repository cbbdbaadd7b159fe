import { createPublicKey, type KeyObject } from "node:crypto";
import {
  createRemoteJWKSet,
  type KeyObject as JoseKeyObject,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from "jose";
import type { Config } from "../infra/config.js";
import { AppError, type AuthenticatedUser, USER_ID_PATTERN } from "../protocol/index.js";

export interface VerifiedToken {
  user: AuthenticatedUser;
  /** Epoch seconds. */
  exp: number;
  /** Epoch seconds: `iat`, or, without it, `exp` minus JWT_MAX_LIFETIME_SEC (what revocation compares). */
  issuedAt: number;
}

/** A room token: what `chat:join {roomId, token}` presents for a room its connection token lacks. */
export interface VerifiedRoomToken extends VerifiedToken {
  /** The `room` claim: an exact room id, or a prefix ending in `*`. */
  room: string;
}

export interface TokenVerifier {
  /**
   * A connection token (handshake, `auth:refresh`): resolves with the user, or rejects with
   * an AppError TOKEN_EXPIRED / TOKEN_INVALID. A room token is refused here.
   */
  verify(token: string): Promise<VerifiedToken>;
  /** A room token (same keys and rules, a `room` claim required): the same refusals. */
  verifyRoomToken(token: string): Promise<VerifiedRoomToken>;
}

/**
 * The one lifetime rule, applied at the handshake, on `auth:refresh` and on the live
 * socket: a token is valid until `exp + JWT_CLOCK_TOLERANCE_SEC` (epoch ms here). `exp`
 * may be a fraction of a second (RFC 7519 NumericDate).
 */
export function tokenDeadlineMs(exp: number, clockToleranceSec: number): number {
  return (exp + clockToleranceSec) * 1000;
}

const stringArray = (value: unknown): string[] | undefined =>
  Array.isArray(value) && value.every((v) => typeof v === "string") ? (value as string[]) : undefined;

/** The user the rest of the service sees; only these claims are trusted, nothing from payloads. */
export function userFromClaims(payload: JWTPayload): AuthenticatedUser {
  const sub = payload.sub;
  if (typeof sub !== "string" || !USER_ID_PATTERN.test(sub)) {
    throw new AppError("TOKEN_INVALID", "the token's sub is missing or not a valid user id");
  }
  const user: AuthenticatedUser = { id: sub };
  if (typeof payload.name === "string") user.name = payload.name.slice(0, 128);
  const roles = stringArray(payload.roles);
  if (roles) user.roles = roles;
  const rooms = stringArray(payload.rooms);
  if (rooms) user.rooms = rooms;
  return user;
}

function algorithmsForPublicKey(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return ["RS256"];
    case "rsa-pss":
      return ["PS256"];
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === "secp384r1" ? ["ES384"] : ["ES256"];
    }
    case "ed25519":
      return ["EdDSA"];
    default:
      throw new Error(`JWT_PUBLIC_KEY: unsupported key type ${key.asymmetricKeyType}`);
  }
}

const HMAC_HASHES: Record<string, string> = { HS256: "SHA-256", HS384: "SHA-384", HS512: "SHA-512" };

/**
 * The secret as a CryptoKey per HMAC algorithm, imported once: handed the raw bytes, jose
 * imports a key on every verification, about 2 % of a handshake ramp's CPU (a profile of
 * this session) and garbage per connection. Any other `alg` gets the bytes, which jose
 * refuses as it would have.
 */
function hmacKeys(secret: Uint8Array): JWTVerifyGetKey {
  const imported = new Map<string, ReturnType<typeof crypto.subtle.importKey>>();
  return ({ alg }) => {
    const hash = alg === undefined ? undefined : HMAC_HASHES[alg];
    if (alg === undefined || hash === undefined) return secret;
    let cryptoKey = imported.get(alg);
    if (!cryptoKey) {
      cryptoKey = crypto.subtle.importKey("raw", secret, { name: "HMAC", hash }, false, ["verify"]);
      imported.set(alg, cryptoKey);
    }
    return cryptoKey;
  };
}

export function createTokenVerifier(jwt: Config["jwt"], now: () => number = Date.now): TokenVerifier {
  let key: Uint8Array | JoseKeyObject | JWTVerifyGetKey;
  let algorithms = jwt.algorithms;
  switch (jwt.key.kind) {
    case "secret":
      key = hmacKeys(new TextEncoder().encode(jwt.key.secret));
      break;
    case "publicKey": {
      const publicKey = createPublicKey(jwt.key.pem);
      key = publicKey;
      if (algorithms.length === 0) algorithms = algorithmsForPublicKey(publicKey);
      break;
    }
    case "jwks":
      key = createRemoteJWKSet(new URL(jwt.key.url), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
      if (algorithms.length === 0) algorithms = ["RS256", "ES256"];
      break;
  }

  const options = {
    algorithms,
    issuer: jwt.issuer,
    audience: jwt.audience,
    clockTolerance: jwt.clockToleranceSec,
    requiredClaims: ["exp", "sub"],
  };

  const verified = async (token: string): Promise<{ payload: JWTPayload; token: VerifiedToken }> => {
    try {
      // The overloads of jwtVerify differ only in the key's type.
      const { payload } =
        typeof key === "function"
          ? await jwtVerify(token, key, options)
          : await jwtVerify(token, key, options);
      const exp = payload.exp as number;
      // jose compares whole seconds: a fractional deadline would pass for up to a second more.
      if (tokenDeadlineMs(exp, jwt.clockToleranceSec) <= now()) throw new AppError("TOKEN_EXPIRED");
      return { payload, token: { user: userFromClaims(payload), exp, issuedAt: issuedAtOf(payload, exp) } };
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new AppError("TOKEN_EXPIRED");
      if (err instanceof joseErrors.JOSEError) {
        throw new AppError("TOKEN_INVALID", `the token is invalid (${err.code})`);
      }
      throw new AppError("TOKEN_INVALID", "the token is invalid", { cause: err });
    }
  };

  /**
   * A revocation is kept for JWT_MAX_LIFETIME_SEC: a token that lives longer, or claims to
   * be issued in the future, could outlive it, so neither is accepted.
   */
  const issuedAtOf = (payload: JWTPayload, exp: number): number => {
    const { iat } = payload;
    if (iat === undefined) return exp - jwt.maxLifetimeSec;
    if (iat > now() / 1000 + jwt.clockToleranceSec) {
      throw new AppError("TOKEN_INVALID", "the token's iat is in the future");
    }
    if (exp - iat > jwt.maxLifetimeSec) {
      throw new AppError("TOKEN_INVALID", "the token lives longer than JWT_MAX_LIFETIME_SEC allows");
    }
    return iat;
  };

  return {
    async verify(token) {
      const { payload, token: result } = await verified(token);
      // A room token opens one room, never a connection.
      if (payload.room !== undefined) {
        throw new AppError("TOKEN_INVALID", "a room token cannot open a connection");
      }
      return result;
    },
    async verifyRoomToken(token) {
      const { payload, token: result } = await verified(token);
      const { room } = payload;
      if (typeof room !== "string" || room.length === 0 || room.length > 256) {
        throw new AppError("TOKEN_INVALID", "a room token needs a room claim");
      }
      return { ...result, room };
    },
  };
}
