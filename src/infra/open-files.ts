import { readFileSync } from "node:fs";

/**
 * File descriptors an instance keeps beyond its clients' sockets: the listening socket,
 * Redis links, outbound HTTP (webhooks, hooks), handshakes in progress and the sockets
 * of refused ones, log files.
 */
export const FD_RESERVE = 512;

/** The process's soft limit on open files, from /proc (Linux); undefined elsewhere or when unlimited. */
export function openFileLimit(limitsFile = "/proc/self/limits"): number | undefined {
  try {
    const line = readFileSync(limitsFile, "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    return Number.isInteger(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Connections one instance holds at most: the configured number, or (0) what the
 * open-file limit leaves after the reserve. Past the limit, accept() fails with EMFILE and
 * the kernel's queued connections are closed unanswered: the clients see resets, not a
 * refusal they can act on.
 */
export function connectionCapacity(configured: number, limit: number | undefined): number {
  if (configured > 0) return configured;
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  return Math.max(1, limit - FD_RESERVE);
}
