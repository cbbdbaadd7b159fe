/**
 * At most `max` log lines per `intervalMs` for one kind of event that a client can cause
 * at will (a flood must not fill the log); the next line that passes says how many were
 * left out since the last one.
 */
export function createLogThrottle(options: {
  max: number;
  intervalMs: number;
  now?: () => number;
}): (log: (suppressed: number) => void) => void {
  const now = options.now ?? Date.now;
  let windowStart = Number.NEGATIVE_INFINITY;
  let inWindow = 0;
  let suppressed = 0;
  return (log) => {
    const at = now();
    if (at - windowStart >= options.intervalMs) {
      windowStart = at;
      inWindow = 0;
    }
    if (inWindow >= options.max) {
      suppressed += 1;
      return;
    }
    inWindow += 1;
    log(suppressed);
    suppressed = 0;
  };
}
