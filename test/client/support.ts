import type {
  ConnectOptions,
  Message,
  RealtimeClient,
  RealtimeEvents,
} from "../../packages/client/src/index.js";
import { connect } from "../../packages/client/src/index.js";
import { userRoom } from "../../src/protocol/index.js";
import type { TestApp } from "../helpers/app.js";
import { connected, eventually, ok, type TestSocket } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

const opened: RealtimeClient[] = [];

/** Quick timeouts for tests; the defaults are for real networks. */
const TEST_TIMINGS = {
  ackTimeoutMs: 3000,
  sendTimeoutMs: 15_000,
  reconnectDelayMs: 100,
  reconnectDelayMaxMs: 500,
};

/**
 * An SDK client for `userId`, closed by `closeSdkClients`. `gate` holds every token fetch
 * (and so every handshake) until it is opened: a test can keep a client offline for as
 * long as it needs.
 */
export function sdkClient(
  url: string,
  userId: string,
  options: Partial<ConnectOptions> & { claims?: Parameters<typeof tokenFor>[1]; gate?: Gate } = {},
): RealtimeClient & { tokenFetches: number } {
  const { claims = { name: userId, rooms: ["team:*"] }, gate, ...rest } = options;
  let tokenFetches = 0;
  const client = connect({
    url,
    ...TEST_TIMINGS,
    getToken: async () => {
      tokenFetches += 1;
      await gate?.wait();
      return tokenFor(userId, claims);
    },
    ...rest,
  });
  opened.push(client);
  return Object.assign(client, {
    get tokenFetches() {
      return tokenFetches;
    },
  });
}

export function closeSdkClients(): void {
  for (const client of opened.splice(0)) client.close();
}

/** Every payload of `event` the client emits, in order. */
export function recordSdk<E extends keyof RealtimeEvents>(
  client: RealtimeClient,
  event: E,
): Parameters<RealtimeEvents[E]>[0][] {
  const seen: Parameters<RealtimeEvents[E]>[0][] = [];
  client.on(event, ((payload: Parameters<RealtimeEvents[E]>[0]) => seen.push(payload)) as RealtimeEvents[E]);
  return seen;
}

/** A closed-or-open barrier for token fetches. */
export class Gate {
  private opened = true;
  private waiters: (() => void)[] = [];

  close(): void {
    this.opened = false;
  }

  open(): void {
    this.opened = true;
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  /** How many fetches are waiting. */
  get waiting(): number {
    return this.waiters.length;
  }

  wait(): Promise<void> {
    if (this.opened) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** Bob, a raw socket.io-client in `roomId`, and a way to send as him. */
export async function bobIn(
  app: TestApp,
  roomId: string,
): Promise<{ bob: TestSocket; say: (text: string) => Promise<Message> }> {
  const bob = await connected(app.url, await tokenFor("bob", { rooms: ["team:*"] }));
  await ok(bob, "chat:join", { roomId });
  return { bob, say: (text) => ok(bob, "chat:send", { roomId, text }) };
}

/** Cut alice's sockets and keep her offline (her next token fetch waits on the gate). */
export async function cutOff(app: TestApp, gate: Gate): Promise<void> {
  gate.close();
  app.app.io.in(userRoom("alice")).disconnectSockets(true);
  await eventually(() => gate.waiting > 0);
}
