import type { Feature } from "./feature.js";
import type { Logger } from "./logger.js";
import type { AppServer } from "./socket-server.js";

interface EnginePacket {
  data?: unknown;
}

interface EngineSocketInternals {
  readyState?: string;
  writeBuffer?: EnginePacket[];
  transport?: { name: string; writable?: boolean; socket?: { bufferedAmount?: number } };
  close(discard?: boolean): void;
}

/** Engine.IO's server event the guard follows: a connection flushing its queued packets. */
interface EngineServerEvents {
  on(event: "flush", listener: (conn: EngineSocketInternals) => void): void;
  off(event: "flush", listener: (conn: EngineSocketInternals) => void): void;
}

/**
 * Nothing queued and no write in flight: the transport is writable again once its last
 * write reached the kernel, so nothing is buffered.
 */
function isSettled(conn: EngineSocketInternals): boolean {
  return conn.transport?.writable === true && (conn.writeBuffer?.length ?? 0) === 0;
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
 * sweep per instance every 250 ms, over the connections that can be holding anything:
 * those that flushed a write and have not settled since. Every write starts with a flush
 * (a websocket frame, a long-polling response), and a client that stops reading never
 * settles: a websocket's write stays in flight, a long-polling client's next packets wait
 * for a poll that does not come. Idle connections are not looked at: touching each of
 * 16,667 every sweep cost about 4 % of a core, more than the rest of an idle instance's
 * work (docs/performance.md).
 */
export function startSlowConsumerGuard(options: {
  io: AppServer;
  maxBufferedBytes: number;
  intervalMs?: number;
  logger: Logger;
  onDisconnect?: () => void;
}): () => void {
  const log = options.logger.child({ module: "backpressure" });
  const engine = options.io.engine as unknown as EngineServerEvents;
  const writing = new Set<EngineSocketInternals>();
  const onFlush = (conn: EngineSocketInternals) => {
    writing.add(conn);
  };
  engine.on("flush", onFlush);

  const socketOf = (conn: EngineSocketInternals) => {
    for (const socket of options.io.of("/").sockets.values())
      if (socket.conn === (conn as unknown)) return socket;
    return undefined;
  };
  const cut = (conn: EngineSocketInternals, bytes: number) => {
    const socket = socketOf(conn);
    log.warn(
      { socketId: socket?.id, userId: socket?.data.user?.id, bufferedBytes: bytes, reason: "slow consumer" },
      "disconnecting slow consumer",
    );
    options.onDisconnect?.();
    // Discard what is queued: it would never be read, and keeping it is the problem.
    conn.close(true);
  };
  const timer = setInterval(() => {
    for (const conn of writing) {
      if (conn.readyState === "closed" || isSettled(conn)) {
        writing.delete(conn);
        continue;
      }
      const bytes = bufferedBytes(conn);
      if (bytes <= options.maxBufferedBytes) continue;
      writing.delete(conn);
      cut(conn, bytes);
    }
  }, options.intervalMs ?? 250);
  timer.unref();
  return () => {
    clearInterval(timer);
    engine.off("flush", onFlush);
    writing.clear();
  };
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
