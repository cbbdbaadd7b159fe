import { afterEach, describe, expect, it, vi } from "vitest";
import { RealtimeError } from "../../packages/client/src/errors.js";
import { Requests } from "../../packages/client/src/requests.js";
import { FakeTransport } from "./fake-transport.js";

function setup(timeoutMs = 1000) {
  const transport = new FakeTransport();
  transport.connected = true;
  const requests = new Requests({ transport, timeoutMs });
  return { transport, requests, request: requests.request };
}

describe("Requests (ack promises over a transport)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("resolves with the ack's data and rejects with the catalogue's code", async () => {
    const { transport, request } = setup();
    const query = request("presence:query", { userIds: ["bob"] });
    const refused = request("chat:join", { roomId: "team:core" });
    expect(transport.next("presence:query").payload).toEqual({ userIds: ["bob"] });
    transport.ok(transport.next("presence:query"), []);
    transport.reply(transport.next("chat:join"), {
      ok: false,
      error: { code: "RATE_LIMITED", message: "slow down", retryAfterMs: 250 },
    });
    await expect(query).resolves.toEqual([]);
    const error = await refused.catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RealtimeError);
    expect(error).toMatchObject({ code: "RATE_LIMITED", retryAfterMs: 250 });
  });

  it("rejects a malformed answer with INTERNAL and ignores a second answer", async () => {
    const { transport, request } = setup();
    const pending = request("chat:leave", { roomId: "team:core" });
    const sent = transport.next("chat:leave");
    sent.ack("not an envelope");
    sent.ack({ ok: true, data: { roomId: "team:core" } });
    await expect(pending).rejects.toMatchObject({ code: "INTERNAL" });
  });

  it("rejects with TIMEOUT when no answer comes in time", async () => {
    vi.useFakeTimers();
    const { request } = setup(500);
    const pending = request("chat:history", { roomId: "team:core" });
    const settled = pending.catch((err: unknown) => err);
    await vi.advanceTimersByTimeAsync(499);
    const longer = request("chat:history", { roomId: "team:core" }, 2000);
    const longerSettled = longer.catch((err: unknown) => err);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled).toMatchObject({ code: "TIMEOUT" });
    await vi.advanceTimersByTimeAsync(2000);
    expect(await longerSettled).toMatchObject({ code: "TIMEOUT" });
  });

  it("holds a request made while disconnected until the connection is up", async () => {
    const { transport, requests, request } = setup();
    transport.connected = false;
    const pending = request("presence:query", { userIds: ["bob"] });
    expect(transport.sent).toEqual([]);
    transport.connected = true;
    requests.connected();
    transport.ok(transport.next("presence:query"), []);
    await expect(pending).resolves.toEqual([]);
  });

  it("rejects what was sent with DISCONNECTED when the connection drops, and keeps what waits", async () => {
    const { transport, requests, request } = setup();
    const sent = request("presence:query", { userIds: ["bob"] });
    transport.drop();
    const waiting = request("presence:query", { userIds: ["carol"] });
    requests.disconnected(new RealtimeError("DISCONNECTED", "lost"));
    await expect(sent).rejects.toMatchObject({ code: "DISCONNECTED" });
    transport.connected = true;
    requests.connected();
    expect(transport.next("presence:query").payload).toEqual({ userIds: ["carol"] });
    transport.ok(transport.next("presence:query"), []);
    await expect(waiting).resolves.toEqual([]);
  });

  it("once closed, rejects everything pending and everything asked later", async () => {
    const { transport, requests, request } = setup();
    const sent = request("presence:query", { userIds: ["bob"] });
    transport.connected = false;
    const waiting = request("presence:query", { userIds: ["carol"] });
    requests.close(new RealtimeError("DISCONNECTED", "closed"));
    await expect(sent).rejects.toMatchObject({ code: "DISCONNECTED" });
    await expect(waiting).rejects.toMatchObject({ code: "DISCONNECTED" });
    await expect(request("presence:query", { userIds: ["dave"] })).rejects.toMatchObject({
      code: "DISCONNECTED",
    });
  });
});
