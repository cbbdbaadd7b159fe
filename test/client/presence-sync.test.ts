import { describe, expect, it } from "vitest";
import type { RealtimeError } from "../../packages/client/src/errors.js";
import { PresenceSync } from "../../packages/client/src/presence-sync.js";
import { Requests } from "../../packages/client/src/requests.js";
import type { PresenceState } from "../../src/protocol/index.js";
import { FakeTransport } from "./fake-transport.js";

const stateOf = (userId: string, status: PresenceState["status"] = "online"): PresenceState => ({
  userId,
  status,
  lastSeen: 0,
  devices: 1,
});

/** Let every pending promise continuation run. */
const flush = () => new Promise((resolve) => setImmediate(resolve));

function setup() {
  const transport = new FakeTransport();
  transport.connected = true;
  const requests = new Requests({ transport, timeoutMs: 1000 });
  const changes: PresenceState[] = [];
  const errors: RealtimeError[] = [];
  const presence = new PresenceSync({
    request: requests.request,
    isConnected: () => transport.connected,
    onPresence: (state) => changes.push(state),
    onError: (error) => errors.push(error),
  });
  return { transport, presence, changes, errors };
}

describe("PresenceSync", () => {
  it("subscribes in chunks of 500 and renews subscriptions and status after a reconnect", async () => {
    const { transport, presence, changes } = setup();
    const ids = Array.from({ length: 700 }, (_, i) => `u${i}`);
    const subscribing = presence.api.subscribe(ids);
    transport.ok(transport.next("presence:subscribe"), [stateOf("u0")]);
    await flush();
    expect((transport.next("presence:subscribe").payload as { userIds: string[] }).userIds).toHaveLength(200);
    transport.ok(transport.next("presence:subscribe"), [stateOf("u600")]);
    expect((await subscribing).map((s) => s.userId)).toEqual(["u0", "u600"]);
    const setting = presence.api.set("busy", "in a meeting");
    transport.ok(transport.next("presence:set"), stateOf("me", "busy"));
    await setting;

    transport.drop();
    transport.connected = true;
    presence.restore();
    const renewed = transport.pending();
    expect(renewed.map((r) => r.event)).toEqual(["presence:subscribe", "presence:subscribe", "presence:set"]);
    expect(renewed[2]?.payload).toEqual({ status: "busy", text: "in a meeting" });
    for (const request of renewed.slice(0, 2)) transport.ok(request, [stateOf("u1", "away")]);
    transport.ok(renewed[2] as (typeof renewed)[number], stateOf("me", "busy"));
    await flush();
    expect(changes.map((s) => `${s.userId}:${s.status}`)).toEqual(["u1:away", "u1:away", "me:busy"]);
  });

  it("forgets ids the server refused, keeps them when the refusal is worth retrying", async () => {
    const { transport, presence } = setup();
    const refused = presence.api.subscribe(["bad id"]);
    transport.reply(transport.next("presence:subscribe"), {
      ok: false,
      error: { code: "INVALID_PAYLOAD", message: "bad" },
    });
    await expect(refused).rejects.toMatchObject({ code: "INVALID_PAYLOAD" });
    const limited = presence.api.subscribe(["bob"]);
    transport.reply(transport.next("presence:subscribe"), {
      ok: false,
      error: { code: "RATE_LIMITED", message: "slow down" },
    });
    await expect(limited).rejects.toMatchObject({ code: "RATE_LIMITED" });
    presence.restore();
    expect(transport.pending().map((r) => r.payload)).toEqual([{ userIds: ["bob"] }]);
  });
});
