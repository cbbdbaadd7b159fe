import { z } from "zod";
import { int, list, optionalString, problem } from "./fields.js";

/** The key a configuration without any gets outside production (production.ts refuses it there). */
export const DEV_JWT_SECRET = "dev-only-insecure-secret-change-me-0123456789";

const ALLOWED_ALGORITHMS = [
  "HS256",
  "HS384",
  "HS512",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "ES256",
  "ES384",
  "EdDSA",
];

const symmetric = (alg: string) => alg.startsWith("HS");

type JwtKey =
  | { kind: "secret"; secret: string; development: boolean }
  | { kind: "publicKey"; pem: string }
  | { kind: "jwks"; url: string };

const fields = z.object({
  JWT_SECRET: optionalString,
  JWT_PUBLIC_KEY: optionalString,
  JWT_JWKS_URL: optionalString.pipe(z.url({ message: "must be a URL" }).optional()),
  JWT_ALGORITHMS: list,
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  JWT_CLOCK_TOLERANCE_SEC: int(0, 300).default(5),
  JWT_MAX_LIFETIME_SEC: int(60, 366 * 24 * 3600).default(7 * 24 * 3600),
});

/** Exactly one key source: a shared secret, a PEM public key or a JWKS URL; none is the development secret. */
function keyOf(e: z.output<typeof fields>, ctx: z.RefinementCtx): JwtKey {
  const sources = [e.JWT_SECRET, e.JWT_PUBLIC_KEY, e.JWT_JWKS_URL].filter((v) => v !== undefined);
  if (sources.length > 1) problem(ctx, "JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL: set exactly one of them");
  if (e.JWT_SECRET !== undefined) {
    if (e.JWT_SECRET.length < 32) problem(ctx, "JWT_SECRET: must be at least 32 characters");
    return { kind: "secret", secret: e.JWT_SECRET, development: false };
  }
  if (e.JWT_PUBLIC_KEY !== undefined) {
    // Env files often carry PEMs on one line with literal \n.
    const pem = e.JWT_PUBLIC_KEY.replace(/\\n/g, "\n");
    if (!pem.includes("BEGIN PUBLIC KEY")) problem(ctx, "JWT_PUBLIC_KEY: must be a PEM public key (SPKI)");
    return { kind: "publicKey", pem };
  }
  if (e.JWT_JWKS_URL !== undefined) return { kind: "jwks", url: e.JWT_JWKS_URL };
  return { kind: "secret", secret: DEV_JWT_SECRET, development: true };
}

/** Pinned algorithms; empty for a public key or JWKS, whose type then decides (the verifier). */
function algorithmsFor(key: JwtKey, configured: string[], ctx: z.RefinementCtx): string[] {
  for (const alg of configured) {
    if (!ALLOWED_ALGORITHMS.includes(alg)) {
      problem(ctx, `JWT_ALGORITHMS: "${alg}" is not one of ${ALLOWED_ALGORITHMS.join(", ")}`);
    }
  }
  if (key.kind === "secret") {
    if (configured.some((a) => !symmetric(a)))
      problem(ctx, "JWT_ALGORITHMS: only HS* algorithms go with JWT_SECRET");
    return configured.length === 0 ? ["HS256"] : configured;
  }
  // Never accept an HMAC algorithm with a public key: the key would become the shared secret.
  if (configured.some(symmetric))
    problem(ctx, "JWT_ALGORITHMS: HS* algorithms cannot be used with a public key");
  return configured;
}

export const jwtSection = fields.transform((e, ctx) => {
  const key = keyOf(e, ctx);
  return {
    key,
    algorithms: algorithmsFor(key, e.JWT_ALGORITHMS, ctx),
    issuer: e.JWT_ISSUER,
    audience: e.JWT_AUDIENCE,
    clockToleranceSec: e.JWT_CLOCK_TOLERANCE_SEC,
    /**
     * The longest a token may live (exp − iat): longer ones are refused, tokens without
     * `iat` count as issued this long before their exp, and a revocation is kept this long.
     */
    maxLifetimeSec: e.JWT_MAX_LIFETIME_SEC,
  };
});
