import { timingSafeEqual } from "node:crypto";
import { sha256 } from "./digest.js";

/** The token in `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * A constant-time check of a presented secret (API key, metrics token). Compares
 * digests rather than the secrets: equal lengths for timingSafeEqual, and the time
 * taken says nothing about the secret's length or prefix.
 */
export function createSecretCheck(expected: string): (presented: string) => boolean {
  const expectedDigest = sha256(expected);
  return (presented) => timingSafeEqual(sha256(presented), expectedDigest);
}
