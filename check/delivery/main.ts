import { parseOptions, USAGE } from "./options.js";
import { formatJournal, formatReport } from "./report.js";
import { runDeliveryCheck } from "./run.js";

/** `npm run check:delivery`: exit 0 when nothing was violated, 1 on a violation, 2 when the run itself failed. */
async function main(aborted: AbortSignal): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = (line: string) => process.stdout.write(`[check] ${line}\n`);
  const report = await runDeliveryCheck({ ...options, signal: aborted }, log);
  process.stdout.write(`${formatJournal(report)}\n${formatReport(report)}\n`);
  return report.violations.length === 0 ? 0 : 1;
}

// Ctrl-C or a kill: the run stops its redis-server and instances before the process goes.
const controller = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    controller.abort();
    setTimeout(() => process.exit(130), 3000).unref();
  });
}

main(controller.signal).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`[check] the run failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(2);
  },
);
