import type { Socket as NetSocket } from "node:net";
import { transports } from "engine.io";

const EngineWebSocket = transports.websocket;
type Packets = Parameters<InstanceType<typeof EngineWebSocket>["send"]>[0];

/**
 * Engine.IO's websocket transport with the queued packets of one flush written in one
 * syscall. Engine.IO queues a client's packets while its previous write is in flight and
 * flushes them together; ws then writes every frame with its own `writev`, the largest
 * cost of a broadcast. Corking the TCP socket around the flush sends the same frames in
 * one `writev`. Nothing on the wire changes (still one frame per packet); the busier the
 * server, the more packets a flush holds and the more it saves (docs/performance.md).
 */
class CoalescingWebSocket extends EngineWebSocket {
  override send(packets: Packets): void {
    // Both fields are private (Engine.IO's ws socket, ws' TCP socket): without them,
    // write as Engine.IO does.
    const ws = (this as unknown as { socket?: { _socket?: NetSocket } }).socket;
    const tcp = ws?._socket;
    if (packets.length < 2 || typeof tcp?.cork !== "function") {
      super.send(packets);
      return;
    }
    tcp.cork();
    try {
      super.send(packets);
    } finally {
      tcp.uncork();
    }
  }
}

interface TransportFactory {
  createTransport(name: string, req: unknown): unknown;
}

/**
 * Make an Engine.IO server create coalescing websocket transports, for handshakes and
 * upgrades alike. `createTransport` is the server's own extension point (its uWebSockets
 * variant overrides it too); only this server is affected.
 */
export function coalesceWebsocketWrites(engine: unknown): void {
  const server = engine as TransportFactory;
  const create = server.createTransport.bind(server);
  server.createTransport = (name, req) =>
    name === "websocket" ? new CoalescingWebSocket(req as never) : create(name, req);
}
