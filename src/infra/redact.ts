/**
 * `scheme://user:password@host` → `scheme://[redacted]@host`, in any text. The match runs
 * to the last `@` before a space or quote, so a password with an unencoded `@` or `/` (a
 * mistyped URL) is hidden whole; a path holding an `@` is over-redacted, never leaked.
 */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^\s"'<>]*@/gi;

export function redactUrlCredentials(text: string): string {
  return text.includes("://") ? text.replace(URL_USERINFO, "$1[redacted]@") : text;
}
