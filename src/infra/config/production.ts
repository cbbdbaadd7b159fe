import type { z } from "zod";
import { DEV_JWT_SECRET, type jwtSection } from "./jwt.js";
import type { processSection, sections } from "./sections.js";

/** Production refuses a shorter INTERNAL_API_KEY: it is the only secret guarding /internal/*. */
export const MIN_INTERNAL_API_KEY_LENGTH = 24;

/** The shortest ADMIN_UI_PASSWORD production accepts (NIST SP 800-63B asks 15 for a password used alone). */
export const ADMIN_PASSWORD_MIN_PRODUCTION = 16;

/** The variables the production rules read, as their sections parsed them. */
type Variables = z.output<typeof processSection.in> &
  z.output<typeof jwtSection.in> &
  z.output<typeof sections.cors.in> &
  z.output<typeof sections.internalApi.in> &
  z.output<typeof sections.metrics.in> &
  z.output<typeof sections.demo.in> &
  z.output<typeof sections.admin.in> &
  z.output<typeof sections.webhooks.in> &
  z.output<typeof sections.roomAccess.in> &
  z.output<typeof sections.messageHook.in>;

/**
 * What NODE_ENV=production refuses, and what it only warns about. It reads the variables,
 * not the settings, so that it names its problems beside those of any section.
 */
export function productionRules(e: Variables): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (e.NODE_ENV !== "production") return { problems, warnings };

  if (e.JWT_SECRET === undefined && e.JWT_PUBLIC_KEY === undefined && e.JWT_JWKS_URL === undefined) {
    problems.push("JWT_SECRET / JWT_PUBLIC_KEY / JWT_JWKS_URL: one is required in production");
  }
  if (e.JWT_SECRET === DEV_JWT_SECRET) {
    problems.push("JWT_SECRET: the development secret cannot be used in production");
  }
  if (e.CORS_ORIGINS.length === 0) problems.push("CORS_ORIGINS: required in production");
  if (e.CORS_ORIGINS.includes("*"))
    problems.push("CORS_ORIGINS: a wildcard origin is not allowed in production");
  if (e.INTERNAL_API_KEY !== undefined && e.INTERNAL_API_KEY.length < MIN_INTERNAL_API_KEY_LENGTH) {
    problems.push(
      `INTERNAL_API_KEY: must be at least ${MIN_INTERNAL_API_KEY_LENGTH} characters in production`,
    );
  }
  // The demo mints a token for any name it is given: an open door in production.
  if (e.DEMO_ENABLED === "true") {
    problems.push("DEMO_ENABLED: the demo cannot be enabled in production (it mints tokens for anyone)");
  }
  problems.push(...adminProblems(e));
  if (e.METRICS_TOKEN === undefined) {
    warnings.push(
      "METRICS_TOKEN is not set: GET /metrics answers anyone who reaches this port; set it, or keep the port private",
    );
  }
  if (e.WEBHOOK_URL?.startsWith("http://")) {
    warnings.push(
      "WEBHOOK_URL is http://: webhook payloads (messages, user ids) cross the network unencrypted; use https://",
    );
  }
  // The hooks carry their Bearer key and what users do (rooms, message texts) on every call.
  for (const [name, url] of [
    ["ROOM_ACCESS_URL", e.ROOM_ACCESS_URL],
    ["MESSAGE_HOOK_URL", e.MESSAGE_HOOK_URL],
  ] as const) {
    if (url?.startsWith("http://")) {
      warnings.push(`${name} is http://: its key and payloads cross the network unencrypted; use https://`);
    }
  }
  return { problems, warnings };
}

/** The admin view is an operator's door into every instance: a strong password of its own. */
function adminProblems(e: Variables): string[] {
  if (e.ADMIN_UI_ENABLED !== "true" || e.ADMIN_UI_PASSWORD === undefined) return [];
  const problems: string[] = [];
  if (e.ADMIN_UI_PASSWORD.length < ADMIN_PASSWORD_MIN_PRODUCTION) {
    problems.push(
      `ADMIN_UI_PASSWORD: must be at least ${ADMIN_PASSWORD_MIN_PRODUCTION} characters in production`,
    );
  }
  // Development mode copies every event's payload and every handshake's headers (tokens
  // included) to the UI, through Redis to every instance.
  if (e.ADMIN_UI_MODE === "development") {
    problems.push("ADMIN_UI_MODE: development mode is refused in production (it shows tokens and payloads)");
  }
  return problems;
}
