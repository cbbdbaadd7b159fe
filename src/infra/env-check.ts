/**
 * Variables that look like this service's but are not read by it: a misspelling
 * (`REDIS_ADAPTR`) would otherwise be ignored without a word and the default used.
 */
const SERVICE_PREFIXES = [
  "CHAT_",
  "CORS_",
  "DEMO_",
  "HTTP_",
  "INSTANCE_",
  "INTERNAL_",
  "JWT_",
  "LOG_",
  "MAX_",
  "MESSAGE_HOOK_",
  "METRICS_",
  "NOTIFICATION_",
  "NOTIFICATIONS_",
  "PRESENCE_",
  "RATE_",
  "REDIS_",
  "ROOM_ACCESS_",
  "SHUTDOWN_",
  "SOCKET_",
  "TLS_",
  "WEBHOOK_",
  "WEBHOOKS_",
];

/** Set by others, not misspellings: proxies, and Kubernetes service links (`REDIS_SERVICE_HOST`…). */
const FOREIGN = /^HTTP_PROXY$|_SERVICE_HOST$|_SERVICE_PORT(_\w+)?$|_PORT_\d+_(TCP|UDP|SCTP)(_\w+)?$/;
/** Kubernetes also sets `<SERVICE>_PORT=tcp://10.0.0.1:6379` for every service in the namespace. */
const SERVICE_LINK = /^(tcp|udp|sctp):\/\//;

/** Edit distance, to name the variable that was probably meant. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** A typo of a known name, or a known name with a word added or missing (`JWT_SECRET_KEY`). */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const d = distance(name, candidate);
    if (!best || d < best.distance) best = { name: candidate, distance: d };
  }
  // Further than this it is a different word, not a typo.
  if (best && best.distance <= Math.max(2, Math.floor(name.length / 4))) return best.name;
  return known.find((candidate) => name.startsWith(`${candidate}_`) || candidate.startsWith(`${name}_`));
}

/** Connection settings people expect as variables of their own. */
const REDIS_CONNECTION = /^REDIS_(HOST|PORT|PASSWORD|USER(NAME)?|DB|TLS|SSL)$/;

function hint(name: string, known: readonly string[]): string {
  if (REDIS_CONNECTION.test(name)) return ": Redis host, port, credentials and TLS go in REDIS_URL";
  const guess = closest(name, known);
  return guess ? `: did you mean ${guess}?` : "";
}

/** One warning per unknown variable with one of the service's prefixes. */
export function unknownVariableWarnings(
  source: Record<string, string | undefined>,
  known: readonly string[],
): string[] {
  const knownSet = new Set(known);
  const warnings: string[] = [];
  for (const [name, value] of Object.entries(source)) {
    if (knownSet.has(name) || !SERVICE_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    if (FOREIGN.test(name) || (name.endsWith("_PORT") && SERVICE_LINK.test(value ?? ""))) continue;
    warnings.push(`${name} is not a variable of this service and is ignored${hint(name, known)}`);
  }
  return warnings.sort();
}
