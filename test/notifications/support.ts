import { randomBytes } from "node:crypto";
import type { ServerEventName, ServerToClientEvents } from "../../src/protocol/index.js";
import { connectClient, record, type TestSocket } from "../helpers/client.js";

export const API_KEY = "internal-test-key-0123456789abcdef";

export const uniquePrefix = () => `t${randomBytes(5).toString("hex")}:`;

export interface HttpResult {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  body: any;
}

/** POST JSON to the app with the internal API key (or the given Authorization header, or none). */
export async function post(
  baseUrl: string,
  path: string,
  body: unknown,
  options: { authorization?: string | null; rawBody?: string; contentType?: string } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = { "content-type": options.contentType ?? "application/json" };
  const authorization = options.authorization === undefined ? `Bearer ${API_KEY}` : options.authorization;
  if (authorization !== null) headers.authorization = authorization;
  const res = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers,
    body: options.rawBody ?? JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

export const publish = (baseUrl: string, body: unknown) => post(baseUrl, "/internal/notifications", body);

type Recorded<E extends ServerEventName> = { [K in E]: Parameters<ServerToClientEvents[K]>[0][] };

/**
 * Connect while already recording `events`: the server may send them in the same
 * TCP read as the connect packet, before an `await connected(...)` would resume.
 */
export async function connectRecording<E extends ServerEventName>(
  url: string,
  token: string,
  events: E[],
): Promise<{ socket: TestSocket; seen: Recorded<E> }> {
  const socket = connectClient(url, token);
  const seen = {} as Recorded<E>;
  for (const event of events) seen[event] = record(socket, event);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", (err) => reject(err));
  });
  return { socket, seen };
}
