import { signToken, type TokenClaims } from "../../src/auth/sign.js";

export const TEST_JWT_SECRET = "test-secret-0123456789-0123456789-abcdef";

/** A token the test app accepts (HS256 with TEST_JWT_SECRET). */
export function tokenFor(
  sub: string,
  claims: Omit<TokenClaims, "sub"> = {},
  options: { expiresIn?: number | string; secret?: string; issuer?: string; audience?: string } = {},
): Promise<string> {
  return signToken(
    { sub, ...claims },
    {
      key: options.secret ?? TEST_JWT_SECRET,
      expiresIn: options.expiresIn ?? "1h",
      issuer: options.issuer,
      audience: options.audience,
    },
  );
}
