import type { ExtendedError } from "socket.io";
import { AppError, type ErrorCode, httpStatusOf } from "../protocol/index.js";
import type { Admission } from "./admission.js";
import type { AppSocket } from "./event-router.js";
import type { Logger } from "./logger.js";

/**
 * The phases of a handshake, in the order they run. The steps of one phase start together,
 * in the features' order, and the phase ends when every one has: their Redis commands,
 * issued in one tick, leave in one auto-pipelined write, so a phase costs one round trip
 * however many features take part (docs/scaling.md). `address` comes before the token is
 * verified (a local check: an address known to be over its limit is refused before its
 * token is looked at), `admit` after it (the counted limits, the per-user cap, the user's
 * room), `join` last.
 */
export const HANDSHAKE_PHASES = ["address", "authenticate", "admit", "join"] as const;

export type HandshakePhase = (typeof HANDSHAKE_PHASES)[number];

/** One step of the handshake a feature contributes. */
export interface HandshakeStep {
  phase: HandshakePhase;
  /** Refuses the connection by throwing an AppError: its code reaches the client's `connect_error`. */
  run(socket: AppSocket): Promise<void>;
  /**
   * Gives back what `run` recorded when the handshake does not become a connection after
   * all (the client left, a later step refused it).
   */
  abandon?(socket: AppSocket): void;
}

type Middleware = (socket: AppSocket, next: (err?: ExtendedError) => void) => Promise<void>;

interface Entry {
  feature: string;
  step: HandshakeStep;
}

/** The error Socket.IO hands the client: `err.data` is what its `connect_error` carries. */
function connectError(refusal: AppError): ExtendedError {
  const status = httpStatusOf[refusal.code];
  const err = new Error(status === 401 ? "unauthorized" : "connection refused") as ExtendedError;
  err.data = {
    status,
    code: refusal.code,
    ...(refusal.retryAfterMs === undefined ? {} : { retryAfterMs: refusal.retryAfterMs }),
  };
  return err;
}

/**
 * The namespace's one handshake middleware: every feature's steps, by phase. A refusal
 * is reported by its code (rt_handshakes_refused_total); what earlier steps recorded is
 * given back, and so it is when the client leaves before Socket.IO connects the socket.
 */
export function createHandshake(
  features: readonly { name: string; handshake?: readonly HandshakeStep[] }[],
  deps: {
    logger: Logger;
    onRefused(code: ErrorCode): void;
    /** HANDSHAKE_MAX_IN_FLIGHT and MAX_CONNECTIONS_PER_INSTANCE: beyond them, refused at once with UNAVAILABLE. */
    admission?: Admission;
  },
): Middleware {
  const log = deps.logger.child({ module: "handshake" });
  const entries: Entry[] = HANDSHAKE_PHASES.flatMap((phase) =>
    features.flatMap((f) =>
      (f.handshake ?? []).filter((s) => s.phase === phase).map((step) => ({ feature: f.name, step })),
    ),
  );
  const abandon = (socket: AppSocket, done: readonly Entry[]) => {
    for (const { feature, step } of done) {
      try {
        step.abandon?.(socket);
      } catch (err) {
        log.error({ err, feature, socketId: socket.id }, "abandon hook failed");
      }
    }
  };
  const refusalOf = (err: unknown, socket: AppSocket, feature: string | undefined): AppError => {
    if (err instanceof AppError) return err;
    log.error({ err, feature, socketId: socket.id, userId: socket.data.user?.id }, "handshake step failed");
    return new AppError("INTERNAL");
  };

  const phases = HANDSHAKE_PHASES.map((phase) => entries.filter((e) => e.step.phase === phase)).filter(
    (phase) => phase.length > 0,
  );

  // A step that throws before its first await refuses like one that rejects.
  const start = (entry: Entry, socket: AppSocket): Promise<void> => {
    try {
      return entry.step.run(socket);
    } catch (err) {
      return Promise.reject(err);
    }
  };

  const refuse = (refusal: AppError, next: (err?: ExtendedError) => void) => {
    deps.onRefused(refusal.code);
    next(connectError(refusal));
  };

  const run = async (socket: AppSocket, next: (err?: ExtendedError) => void) => {
    const done: Entry[] = [];
    let failure: { err: unknown; feature: string } | undefined;
    for (const phase of phases) {
      // Started in the features' order within one tick; the first refusal in that order wins.
      const results = await Promise.allSettled(phase.map((e) => start(e, socket)));
      results.forEach((result, i) => {
        const entry = phase[i] as Entry;
        if (result.status === "fulfilled") done.push(entry);
        else failure ??= { err: result.reason, feature: entry.feature };
      });
      if (failure) break;
    }
    if (failure) {
      abandon(socket, done);
      refuse(refusalOf(failure.err, socket, failure.feature), next);
      return;
    }
    next();
    // Socket.IO connects the socket on the next tick, unless the client left meanwhile
    // (it checks the transport); by the time this runs, it has done one or the other.
    if (done.some(({ step }) => step.abandon)) {
      setImmediate(() => {
        if (!socket.connected) abandon(socket, done);
      });
    }
  };

  const { admission } = deps;
  if (!admission) return run;
  return async (socket, next) => {
    if (admission.overCapacity()) {
      const refusal = new AppError(
        "UNAVAILABLE",
        "this instance holds all the connections it can, try again",
        {
          retryAfterMs: admission.retryAfterMs,
        },
      );
      refuse(refusal, next);
      return;
    }
    if (!admission.enter()) {
      const refusal = new AppError("UNAVAILABLE", "too many handshakes in progress, try again", {
        retryAfterMs: admission.retryAfterMs,
      });
      refuse(refusal, next);
      return;
    }
    try {
      await run(socket, next);
    } finally {
      admission.leave();
    }
  };
}
