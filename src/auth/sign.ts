import { type CryptoKey, type KeyObject, SignJWT } from "jose";

export interface TokenClaims {
  sub: string;
  name?: string;
  roles?: string[];
  rooms?: string[];
  /** A room token's room: an exact room id or a prefix ending in `*` (chat:join {roomId, token}). */
  room?: string;
}

export interface SignOptions {
  /** A shared secret (HS256) or a private key (alg must match). */
  key: string | Uint8Array | KeyObject | CryptoKey;
  alg?: string;
  /** Seconds from now, or a jose time span like "1h". */
  expiresIn?: number | string;
  issuer?: string;
  audience?: string;
}

/** Sign a token for development and tests; production tokens come from the product's identity service. */
export async function signToken(claims: TokenClaims, options: SignOptions): Promise<string> {
  const { sub, ...rest } = claims;
  const key = typeof options.key === "string" ? new TextEncoder().encode(options.key) : options.key;
  const jwt = new SignJWT({ ...rest })
    .setProtectedHeader({ alg: options.alg ?? "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(
      typeof options.expiresIn === "number"
        ? Math.floor(Date.now() / 1000) + options.expiresIn
        : (options.expiresIn ?? "1h"),
    );
  if (options.issuer) jwt.setIssuer(options.issuer);
  if (options.audience) jwt.setAudience(options.audience);
  return jwt.sign(key);
}
