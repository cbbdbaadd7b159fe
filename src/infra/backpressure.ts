import type { Feature } from "./feature.js";
import type { Logger } from "./logger.js";
import type { AppServer } from "./socket-server.js";

interface EnginePacket {
  data?: unknown;
}

interface EngineSocketInternals {
  writeBuffer?: EnginePacket[];
  transport?: { name: string; socket?: { bufferedAmount?: number } };
  close(discard?: boolean): void;
}

/**
 * Bytes waiting to go to one client: what Engine.IO has queued (its write buffer is
 * unbounded, engine.io#420) plus what the websocket has not flushed to the kernel yet.
 */
export function bufferedBytes(conn: EngineSocketInternals): number {
  let total = conn.transport?.socket?.bufferedAmount ?? 0;
  for (const packet of conn.writeBuffer ?? []) {
    const data = packet.data;
    if (typeof data === "string") total += data.length;
    else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) total += data.byteLength;
    else if (data !== undefined) total += 64;
  }
  return total;
}

/**
 * Cuts slow consumers: a client that stops reading would otherwise grow this process's
 * memory without bound and delay nobody but itself until the process falls over. One
 * sweep per instance (not a timer per socket) keeps the cost flat.
 */
export function startSlowConsumerGuard(options: {
  io: AppServer;
  maxBufferedBytes: number;
  intervalMs?: number;
  logger: Logger;
  onDisconnect?: () => void;
}): () => void {
  const log = options.logger.child({ module: "backpressure" });
  const timer = setInterval(() => {
    for (const socket of options.io.of("/").sockets.values()) {
      const conn = socket.conn as unknown as EngineSocketInternals;
      const bytes = bufferedBytes(conn);
      if (bytes <= options.maxBufferedBytes) continue;
      log.warn(
        { socketId: socket.id, userId: socket.data.user?.id, bufferedBytes: bytes, reason: "slow consumer" },
        "disconnecting slow consumer",
      );
      options.onDisconnect?.();
      // Discard what is queued: it would never be read, and keeping it is the problem.
      conn.close(true);
    }
  }, options.intervalMs ?? 250);
  timer.unref();
  return () => clearInterval(timer);
}

/** The guard as a part of the app: it starts once every feature has, and stops first at shutdown. */
export function createSlowConsumerGuard(options: Parameters<typeof startSlowConsumerGuard>[0]): Feature {
  let stop: (() => void) | undefined;
  return {
    name: "slow-consumer-guard",
    async start() {
      stop = startSlowConsumerGuard(options);
    },
    async stop() {
      stop?.();
    },
  };
}
