import { LoadGenerator } from "./load-generator.js";
import type { WorkerReply, WorkerRequest } from "./load-protocol.js";

/**
 * The load process: forked by the orchestrator, runs one command at a time from the
 * IPC channel and answers with its result. It exits with its parent.
 */
const generator = new LoadGenerator();
const send = (reply: WorkerReply) => process.send?.(reply);

process.on("message", (message: WorkerRequest) => {
  generator
    .run(message)
    .then((result) => send({ id: message.id, ok: true, result }))
    .catch((err: unknown) =>
      send({ id: message.id, ok: false, error: (err as Error)?.message ?? String(err) }),
    );
});
process.on("disconnect", () => process.exit(0));
// An orderly exit, so that a `--cpu-prof` profile (BENCH_WORKER_PROF) is written.
process.on("SIGTERM", () => process.exit(0));
