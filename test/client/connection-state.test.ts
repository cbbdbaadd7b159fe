import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConnectionState } from "../../packages/client/src/connection-state.js";
import { RealtimeError } from "../../packages/client/src/errors.js";
import type { StatusEvent } from "../../packages/client/src/types.js";

function setup() {
  const socket = { connected: false, connects: 0, connect: () => (socket.connects += 1) };
  const statuses: StatusEvent[] = [];
  const state = new ConnectionState({
    socket,
    reconnectDelayMs: 100,
    reconnectDelayMaxMs: 1000,
    onStatus: (event) => statuses.push(event),
  });
  return { socket, statuses, state };
}

const refused = new RealtimeError("TOKEN_INVALID", "connection refused: TOKEN_INVALID");

describe("ConnectionState", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("counts failed attempts until the connection is up, and says connecting before the first", () => {
    const { statuses, state } = setup();
    state.attemptFailed();
    state.stillTrying(refused);
    state.up();
    state.down(new RealtimeError("DISCONNECTED", "lost"));
    state.attemptFailed();
    state.stillTrying(refused);
    expect(statuses.map((s) => [s.status, s.attempt, s.error?.code])).toEqual([
      ["connecting", 1, "TOKEN_INVALID"],
      ["connected", 0, undefined],
      ["reconnecting", 0, "DISCONNECTED"],
      ["reconnecting", 1, "TOKEN_INVALID"],
    ]);
    expect(state.status).toBe("reconnecting");
  });

  it("after a refusal with a retry hint, waits the hint plus a jittered backoff that grows with every try", async () => {
    const { socket, state } = setup();
    state.reconnectAfterHint(1000); // first try: 1000 + 50..100 ms
    await vi.advanceTimersByTimeAsync(1049);
    expect(socket.connects).toBe(0);
    await vi.advanceTimersByTimeAsync(51);
    expect(socket.connects).toBe(1);
    state.reconnectAfterHint(1000); // second try: 1000 + 100..200 ms
    await vi.advanceTimersByTimeAsync(1099);
    expect(socket.connects).toBe(1);
    await vi.advanceTimersByTimeAsync(101);
    expect(socket.connects).toBe(2);
  });

  it("spreads clients refused together over the backoff's window", () => {
    const delays = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const { state } = setup();
      const spy = vi.spyOn(globalThis, "setTimeout");
      state.reconnectAfterHint(1000);
      delays.add(spy.mock.calls.at(-1)?.[1] as number);
      spy.mockRestore();
      state.stop();
    }
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(1050);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1100);
    expect(delays.size).toBeGreaterThan(10);
  });

  it("keeps clients that fail again and again spread over half to all of the cap, never all at the cap", () => {
    const delays: number[] = [];
    for (let i = 0; i < 200; i++) {
      const { socket, state } = setup();
      const spy = vi.spyOn(globalThis, "setTimeout");
      // The eighth try of a client that failed seven times (100 ms × 2^7 is far past the 1 s cap).
      for (let n = 0; n < 7; n++) {
        state.reconnectLater();
        vi.runOnlyPendingTimers();
      }
      expect(socket.connects).toBe(7);
      state.reconnectLater();
      delays.push(spy.mock.calls.at(-1)?.[1] as number);
      spy.mockRestore();
      state.stop();
    }
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(500);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1000);
    // socket.io-client's backoff caps after its jitter: most such clients would wait exactly 1000 ms.
    expect(delays.filter((d) => d === 1000).length).toBeLessThan(10);
    expect(new Set(delays).size).toBeGreaterThan(100);
  });

  it("reconnects after a growing backoff, one timer at a time, or after the delay it is given", async () => {
    const { socket, state } = setup();
    state.reconnectLater();
    state.reconnectLater();
    await vi.advanceTimersByTimeAsync(100);
    expect(socket.connects).toBe(1);
    state.reconnectLater(); // second try: 100..200 ms
    await vi.advanceTimersByTimeAsync(99);
    expect(socket.connects).toBe(1);
    await vi.advanceTimersByTimeAsync(101);
    expect(socket.connects).toBe(2);
    state.reconnectLater(5000);
    await vi.advanceTimersByTimeAsync(4999);
    expect(socket.connects).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(socket.connects).toBe(3);
  });

  it("never reconnects once stopped, and announces the close last", async () => {
    const { socket, statuses, state } = setup();
    state.reconnectLater(10);
    state.stop();
    state.reconnectLater(10);
    await vi.advanceTimersByTimeAsync(100);
    expect(socket.connects).toBe(0);
    expect(state.isClosed).toBe(true);
    expect(statuses).toEqual([]);
    state.announceClosed(refused);
    expect(statuses).toEqual([{ status: "closed", attempt: 0, error: refused }]);
  });
});
