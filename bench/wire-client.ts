import WebSocket from "ws";

/**
 * A minimal Socket.IO v5 client speaking the Engine.IO v4 wire format over a plain
 * `ws` socket, so that one load process can drive thousands of connections without
 * becoming the bottleneck: no reconnection manager, no buffering, no timers.
 *
 * Frames (text only, default namespace):
 *   server `0{sid,pingInterval,...}` open     client `40{auth}` connect
 *   server `40{sid}` connected / `44{message,data}` refused
 *   `42[event,payload]` event, `42<id>[event,payload]` event wanting an ack
 *   `43<id>[response]` ack            server `2` ping → client `3` pong
 *   `41` disconnect                   `1` engine close
 * Binary attachments (`45`/`46`) are not supported: the bench never sends any.
 */

const CH_0 = 0x30;
const CH_1 = 0x31;
const CH_2 = 0x32;
const CH_3 = 0x33;
const CH_4 = 0x34;
const CH_OPEN_BRACKET = 0x5b;
const PONG = Buffer.from("3");

export class ConnectRefusedError extends Error {
  constructor(
    message: string,
    readonly data: unknown,
  ) {
    super(message);
    this.name = "ConnectRefusedError";
  }
}

export interface WireConnectOptions {
  /** The `auth` object of the CONNECT packet (the service reads `auth.token`). */
  auth?: Record<string, unknown>;
  path?: string;
  timeoutMs?: number;
  /** The source address (`127.0.1.x`): each one has its own ephemeral ports, about 28,000. */
  localAddress?: string;
  /** The source port: with `localAddress`, chosen by the caller (see PortPool in scale-clients.ts). */
  localPort?: number;
}

export type EventListener = (...args: unknown[]) => void;

/** `42…` or `43…` without the type prefix: the digits of an optional id, then the JSON array. */
function splitId(frame: Buffer, from: number): { id: number; jsonStart: number } {
  let id = -1;
  let i = from;
  while (i < frame.length) {
    const c = frame[i] as number;
    if (c < CH_0 || c > 0x39) break;
    id = (id < 0 ? 0 : id * 10) + (c - CH_0);
    i++;
  }
  return { id, jsonStart: i };
}

/** Ack id of a `43<id>[...]` frame. */
export function ackIdOf(frame: Buffer): number {
  return splitId(frame, 2).id;
}

export class WireClient {
  /** The Socket.IO session id from the CONNECT answer. */
  sid = "";
  /** The Engine.IO open packet (`pingInterval`, `pingTimeout`, `maxPayload`...). */
  handshake: Record<string, unknown> = {};
  pingsAnswered = 0;
  /** True after the server or the client ended the session. */
  closed = false;
  closeReason = "";

  /**
   * Fast path for load generation: every server event frame (`42…`) as raw bytes,
   * undecoded. When set, `on()` listeners do not run.
   */
  onRawEvent: ((frame: Buffer) => void) | undefined;
  /** Fast path: every ack frame (`43<id>[...]`) as raw bytes; acks registered with `emit` still run. */
  onRawAck: ((id: number, frame: Buffer) => void) | undefined;
  onClose: ((reason: string) => void) | undefined;

  private nextAckId = 0;
  private readonly acks = new Map<number, (...args: unknown[]) => void>();
  private readonly listeners = new Map<string, EventListener[]>();

  private constructor(readonly ws: WebSocket) {}

  /** Open the websocket and the default namespace; rejects with ConnectRefusedError on `44`. */
  static connect(baseUrl: string, options: WireConnectOptions = {}): Promise<WireClient> {
    const url = new URL(options.path ?? "/socket.io/", baseUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = "?EIO=4&transport=websocket";
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      ...(options.localPort ? { localPort: options.localPort } : {}),
    });
    const client = new WireClient(ws);
    const connectPacket = `40${options.auth ? JSON.stringify(options.auth) : ""}`;
    return new Promise((resolve, reject) => {
      let settled = false;
      // Where a connect that times out was stuck (diagnostics of the scale scenario).
      let waitingFor = "tcp";
      const req = (ws as unknown as { _req?: import("node:http").ClientRequest })._req;
      req?.on("socket", (socket) =>
        socket.once("connect", () => {
          waitingFor = "http";
        }),
      );
      ws.on("open", () => {
        waitingFor = "engine";
      });
      const timer = setTimeout(() => {
        fail(
          new Error(`connect timeout after ${options.timeoutMs ?? 10_000} ms (waiting for ${waitingFor})`),
        );
        ws.terminate();
      }, options.timeoutMs ?? 10_000);
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      };
      ws.on("error", (err) => fail(err));
      ws.on("close", (code) => {
        fail(new Error(`websocket closed during connect (${code})`));
        client.markClosed("transport close");
      });
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (settled) {
          client.handle(data, isBinary);
          return;
        }
        if (isBinary) return;
        const type = data[0];
        if (type === CH_0) {
          // Engine open: like socket.io-client, send CONNECT only once the session exists.
          client.handshake = JSON.parse(data.toString("utf8", 1)) as Record<string, unknown>;
          waitingFor = "namespace";
          ws.send(connectPacket);
        } else if (type === CH_2) {
          client.pong();
        } else if (type === CH_4 && data[1] === CH_0) {
          const body = data.length > 2 ? (JSON.parse(data.toString("utf8", 2)) as { sid?: string }) : {};
          client.sid = body.sid ?? "";
          settled = true;
          clearTimeout(timer);
          resolve(client);
        } else if (type === CH_4 && data[1] === CH_4) {
          const body = JSON.parse(data.toString("utf8", 2)) as { message?: string; data?: unknown };
          fail(new ConnectRefusedError(body.message ?? "connect refused", body.data));
          ws.close();
        }
      });
    });
  }

  /** Emit an event; with `ack`, the server's answer arrives as its arguments. */
  emit(event: string, payload: unknown, ack?: (...args: unknown[]) => void): void {
    const body = JSON.stringify(payload === undefined ? [event] : [event, payload]);
    if (!ack) {
      this.ws.send(`42${body}`);
      return;
    }
    const id = this.nextAckId++;
    this.acks.set(id, ack);
    this.ws.send(`42${id}${body}`);
  }

  /** Emit with an ack and resolve with the server's first ack argument. */
  emitWithAck(event: string, payload: unknown, timeoutMs = 5000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ack for ${event} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.emit(event, payload, (response) => {
        clearTimeout(timer);
        resolve(response);
      });
    });
  }

  /**
   * Reserve an ack id and send a pre-serialized `[event,payload]` array: the load
   * generator builds the frame itself and matches acks by id in `onRawAck`.
   */
  sendRaw(jsonArray: string): number {
    const id = this.nextAckId++;
    this.ws.send(`42${id}${jsonArray}`);
    return id;
  }

  on(event: string, listener: EventListener): void {
    const list = this.listeners.get(event);
    if (list) list.push(listener);
    else this.listeners.set(event, [listener]);
  }

  /** Leave the namespace (`41`) and close the websocket. */
  close(): void {
    if (this.closed) return;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send("41");
    this.ws.close();
    this.markClosed("io client disconnect");
  }

  private pong(): void {
    this.ws.send(PONG, { binary: false });
    this.pingsAnswered++;
  }

  private markClosed(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.onClose?.(reason);
  }

  private handle(data: Buffer, isBinary: boolean): void {
    if (isBinary) return;
    const type = data[0];
    if (type === CH_4) {
      const packet = data[1];
      if (packet === CH_2) {
        if (this.onRawEvent) this.onRawEvent(data);
        else this.dispatchEvent(data);
      } else if (packet === CH_3) {
        const { id, jsonStart } = splitId(data, 2);
        const ack = this.acks.get(id);
        if (ack) {
          this.acks.delete(id);
          ack(...(JSON.parse(data.toString("utf8", jsonStart)) as unknown[]));
        } else this.onRawAck?.(id, data);
      } else if (packet === CH_1) {
        this.markClosed("io server disconnect");
        this.ws.close();
      }
    } else if (type === CH_2) {
      this.pong();
    } else if (type === CH_1) {
      this.markClosed("transport close");
    }
  }

  private dispatchEvent(data: Buffer): void {
    const { jsonStart } = splitId(data, 2);
    if (data[jsonStart] !== CH_OPEN_BRACKET) return;
    const [event, ...args] = JSON.parse(data.toString("utf8", jsonStart)) as [string, ...unknown[]];
    for (const listener of this.listeners.get(event) ?? []) listener(...args);
  }
}
