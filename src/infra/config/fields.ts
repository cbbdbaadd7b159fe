import { z } from "zod";

/** The kinds of value a variable holds, as the environment spells them (every value is a string). */

export const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Unset and blank are the same: a variable left empty in an env file is not set. */
export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

/** A comma list; blanks around the entries and empty entries are dropped. */
export const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

export const flag = z.enum(["true", "false"], { message: 'must be "true" or "false"' });

const HOST_PORT = /^[A-Za-z0-9_.:[\]-]+:\d{1,5}$/;

export const isHostPort = (entry: string) => HOST_PORT.test(entry);

/** `host:port` entries (IPv6 hosts in brackets), already checked with isHostPort. */
export function hostPorts(entries: string[]): { host: string; port: number }[] {
  return entries.map((entry) => {
    const at = entry.lastIndexOf(":");
    return { host: entry.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(entry.slice(at + 1)) };
  });
}

/**
 * A problem that involves more than one value, or a value's meaning rather than its form:
 * reported as written (it names its variables itself), never with the value.
 */
export function problem(ctx: z.RefinementCtx, message: string): void {
  ctx.addIssue({ code: "custom", message });
}
