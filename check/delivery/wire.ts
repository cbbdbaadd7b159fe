import { io, type Socket } from "socket.io-client";
import type {
  AckResponse,
  ChatJoinResult,
  ClientToServerEvents,
  Message,
  ServerToClientEvents,
} from "../../src/protocol/index.js";

/**
 * The per-room sequence contract (docs/reliability.md, "The delivery checker"): a message
 * carries its room's `seq` and `epoch`; a join answer says where the room is and whether
 * the socket is live. Optional here so the checker also runs against a server that does
 * not speak it yet: it then falls back to message ids, and its findings say why.
 */
export type WireMessage = Omit<Message, "seq" | "epoch"> & { seq?: number; epoch?: string };
export type WireJoinResult = Omit<ChatJoinResult, "messages" | "epoch" | "seq" | "live"> & {
  messages: WireMessage[];
  epoch?: string;
  seq?: number;
  live?: boolean;
};
export type WireJoinPayload = { roomId: string; sinceSeq?: number; epoch?: string; since?: string };

export type CheckSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** How long any answer may take before the checker's clients treat it as lost and retry. */
export const ACK_TIMEOUT_MS = 5000;
/** Clients come back fast: the checker measures what they get, not how long they wait. */
export const RECONNECT = { reconnectionDelay: 100, reconnectionDelayMax: 500 } as const;

export function openSocket(url: string, token: string): CheckSocket {
  return io(url, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: true,
    ...RECONNECT,
    timeout: ACK_TIMEOUT_MS,
    auth: { token },
  });
}

export type AckOutcome<T> = AckResponse<T> | { ok: false; error: { code: "TIMEOUT" | "DISCONNECTED" } };

/** An acknowledged emit that never throws: a lost answer is an outcome like any other. */
export async function ask<T>(
  socket: CheckSocket,
  event: string,
  payload: unknown,
  timeoutMs = ACK_TIMEOUT_MS,
): Promise<AckOutcome<T>> {
  if (!socket.connected) return { ok: false, error: { code: "DISCONNECTED" } };
  try {
    const emitter = socket.timeout(timeoutMs) as unknown as {
      emitWithAck(event: string, payload: unknown): Promise<AckResponse<T>>;
    };
    return await emitter.emitWithAck(event, payload);
  } catch (err) {
    const code = /disconnected/i.test((err as Error).message) ? "DISCONNECTED" : "TIMEOUT";
    return { ok: false, error: { code } };
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
