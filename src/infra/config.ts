import type { z } from "zod";
import { productionRules } from "./config/production.js";
import { processSection, type Settings, sections } from "./config/sections.js";
import { unknownVariableWarnings } from "./env-check.js";
import { redactUrlCredentials } from "./redact.js";

export { ADMIN_PASSWORD_MIN_PRODUCTION, MIN_INTERNAL_API_KEY_LENGTH } from "./config/production.js";

/**
 * The service's whole configuration, parsed from environment variables once, in
 * `loadConfig`: its type is the schemas' (config/sections.ts). Nothing else reads
 * `process.env`. Every variable is documented in `.env.example` and docs/configuration.md.
 */
export type Config = Settings & {
  version: string;
  /** Warnings to log once the logger exists (config is read before it is). */
  warnings: string[];
};

export type JwtKeyConfig = Config["jwt"]["key"];

const allSections = { process: processSection, ...sections };

/** The names of every variable the service reads (documented in .env.example). */
export const CONFIG_VARIABLES: readonly string[] = [
  ...new Set(Object.values(allSections).flatMap((schema) => Object.keys(schema.in.shape))),
];

/** The schemas' default of every variable that has one, as the environment spells it. */
export const CONFIG_DEFAULTS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.values(allSections).flatMap((schema) =>
    Object.entries(schema.in.shape).flatMap(([name, field]) => {
      const unset = field.safeParse(undefined).data;
      return typeof unset === "number" || typeof unset === "string" ? [[name, String(unset)]] : [];
    }),
  ),
);

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

type Source = Record<string, string | undefined>;

/** A value of the wrong form names its variable and shows the value, unless it is a secret. */
function describe(issue: z.core.$ZodIssue, source: Source): string {
  if (issue.path.length === 0) return issue.message;
  const name = String(issue.path[0]);
  const value = source[name];
  // URLs are shown without their credentials: a mistyped REDIS_URL carries a password.
  const shown =
    value === undefined || /SECRET|KEY|TOKEN|PASSWORD/.test(name)
      ? ""
      : ` (got "${redactUrlCredentials(value)}")`;
  return `${name}: ${issue.message}${shown}`;
}

/** What a start without some settings says about the defaults it runs with instead. */
function defaultsWarnings(settings: Settings): string[] {
  const warnings: string[] = [];
  if (settings.jwt.key.kind === "secret" && settings.jwt.key.development) {
    warnings.push(
      "NO JWT KEY CONFIGURED: using the built-in development secret. Anyone can mint tokens. Never do this in production.",
    );
  }
  if (settings.cors.allowAnyLocalhost) {
    warnings.push(
      "CORS_ORIGINS is not set: accepting browser origins on localhost only (development default)",
    );
  }
  if (settings.redis.url === undefined) {
    warnings.push(
      "REDIS_URL is not set: single instance with in-memory adapter and stores; state is lost on restart",
    );
  }
  return warnings;
}

/** Every section's variables, merged; a value of the wrong form is a ConfigError naming them all. */
function parseVariables(source: Source) {
  const issues: z.core.$ZodIssue[] = [];
  const variables = {};
  for (const schema of Object.values(allSections)) {
    const result = schema.in.safeParse(source);
    if (result.success) Object.assign(variables, result.data);
    else issues.push(...result.error.issues);
  }
  // A variable read by two sections (NODE_ENV) is named once.
  if (issues.length > 0) throw new ConfigError([...new Set(issues.map((issue) => describe(issue, source)))]);
  return variables as Parameters<typeof productionRules>[0];
}

/** The settings of every section, and the problems between values each section finds. */
function parseSettings(source: Source): { settings: Settings; problems: string[] } {
  const problems: string[] = [];
  const settings = {};
  for (const [name, schema] of Object.entries(allSections)) {
    const result = schema.safeParse(source);
    if (!result.success) problems.push(...result.error.issues.map((issue) => describe(issue, source)));
    // The process section's settings are the Config's top level.
    else Object.assign(settings, name === "process" ? result.data : { [name]: result.data });
  }
  // Complete unless there are problems, and then it is not used.
  return { settings: settings as Settings, problems };
}

/**
 * Parse and validate the environment. Throws a ConfigError whose message names every bad
 * variable: values of the wrong form first, then the problems between values and the
 * production rules. The caller prints it and exits.
 */
export function loadConfig(source: Source, version = "0.0.0"): Config {
  const production = productionRules(parseVariables(source));
  const { settings, problems } = parseSettings(source);
  problems.push(...production.problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ...settings,
    version,
    warnings: [
      ...unknownVariableWarnings(source, CONFIG_VARIABLES),
      ...defaultsWarnings(settings),
      ...production.warnings,
    ],
  };
}
