import { io as ioClient, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import type {
  AckData,
  AckResponse,
  ClientEventName,
  ClientToServerEvents,
  EventPayload,
  ServerEventName,
  ServerEventPayload,
  ServerToClientEvents,
} from "../../src/protocol/index.js";

export type TestSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const opened: TestSocket[] = [];

/** A real socket.io-client, websocket transport unless told otherwise; closed by `closeAllClients`. */
export function connectClient(
  url: string,
  token: string | undefined,
  options: Partial<ManagerOptions & SocketOptions> = {},
): TestSocket {
  const socket: TestSocket = ioClient(url, {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    ...(token === undefined ? {} : { auth: { token } }),
    ...options,
  });
  opened.push(socket);
  return socket;
}

export function closeAllClients(): void {
  for (const socket of opened.splice(0)) socket.disconnect();
}

/** Connect and wait for `connect`; rejects with the connect_error. */
export async function connected(
  url: string,
  token: string,
  options: Partial<ManagerOptions & SocketOptions> = {},
) {
  const socket = connectClient(url, token, options);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", (err) => reject(err));
  });
  return socket;
}

/** The connect_error a refused connection gets. */
export function connectError(
  url: string,
  token: string | undefined,
  options: Partial<ManagerOptions & SocketOptions> = {},
): Promise<Error & { data?: { status: number; code: string } }> {
  const socket = connectClient(url, token, options);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => reject(new Error("connected, but a refusal was expected")));
    socket.once("connect_error", (err) =>
      resolve(err as Error & { data?: { status: number; code: string } }),
    );
  });
}

/** Emit with an ack and return the whole envelope. */
export async function request<E extends ClientEventName>(
  socket: TestSocket,
  event: E,
  payload: EventPayload<E>,
  timeoutMs = 5000,
): Promise<AckResponse<AckData<E>>> {
  // biome-ignore lint/suspicious/noExplicitAny: the typed emit overloads cannot be expressed for a generic E
  const emitter = socket.timeout(timeoutMs) as any;
  return emitter.emitWithAck(event, payload);
}

/** Emit with an ack and return `data`, failing the test when the ack is not ok. */
export async function ok<E extends ClientEventName>(
  socket: TestSocket,
  event: E,
  payload: EventPayload<E>,
): Promise<AckData<E>> {
  const res = await request(socket, event, payload);
  if (!res.ok) throw new Error(`${event} failed: ${res.error.code} ${res.error.message}`);
  return res.data;
}

/** The next `event` on `socket`, or a rejection after `timeoutMs`. */
export function nextEvent<E extends ServerEventName>(
  socket: TestSocket,
  event: E,
  timeoutMs = 5000,
  filter: (...args: Parameters<ServerToClientEvents[E]>) => boolean = () => true,
): Promise<ServerEventPayload<E>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // biome-ignore lint/suspicious/noExplicitAny: see above
      (socket as any).off(event, listener);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (...args: Parameters<ServerToClientEvents[E]>) => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      // biome-ignore lint/suspicious/noExplicitAny: see above
      (socket as any).off(event, listener);
      resolve(args[0]);
    };
    // biome-ignore lint/suspicious/noExplicitAny: see above
    (socket as any).on(event, listener);
  });
}

/** Record every `event` a socket receives, for "exactly once" and "nothing" assertions. */
export function record<E extends ServerEventName>(socket: TestSocket, event: E): ServerEventPayload<E>[] {
  const seen: ServerEventPayload<E>[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: see above
  (socket as any).on(event, (payload: ServerEventPayload<E>) => seen.push(payload));
  return seen;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, stepMs = 25) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(stepMs);
  }
  if (!(await check())) throw new Error(`condition not met within ${timeoutMs} ms`);
}
