import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { StatusEvent } from "../../packages/client/src/types.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { eventually } from "../helpers/client.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";
import { closeSdkClients, recordSdk, sdkClient } from "./support.js";

/**
 * The SDK schedules every reconnect itself (socket.io-client's reconnection is off): a
 * lost transport, then attempts that fail at the TCP level, must still bring it back.
 */
describe("client SDK reconnecting after its instance is gone", () => {
  let app: TestApp;
  let proxy: TcpProxy;
  // Where new connections go: undefined refuses them, like a port nobody listens on.
  let target: number | undefined;

  beforeAll(async () => {
    app = await startApp();
    proxy = await new TcpProxy({ route: () => target }).start();
  });
  afterEach(() => {
    closeSdkClients();
  });
  afterAll(async () => {
    await proxy.stop();
    await app.close();
  });

  it("comes back by itself once an instance answers again, after failing attempts with a growing count", async () => {
    target = Number(new URL(app.url).port);
    const alice = sdkClient(proxy.url, "alice");
    const statuses = recordSdk(alice, "status") as StatusEvent[];
    await eventually(() => alice.status === "connected");
    await alice.chat.join("team:back");

    target = undefined;
    proxy.cut();
    await eventually(() => statuses.some((s) => s.status === "reconnecting" && s.attempt >= 3), 10_000);
    expect(alice.status).toBe("reconnecting");
    const failed = statuses.filter((s) => s.status === "reconnecting" && s.attempt > 0);
    expect(failed.map((s) => s.attempt)).toEqual(failed.map((_, i) => i + 1));

    target = Number(new URL(app.url).port);
    await eventually(() => alice.status === "connected", 10_000);
    // The room is joined again on the new connection: a message sent now arrives.
    const messages = recordSdk(alice, "message");
    await alice.chat.send("team:back", "still here");
    await eventually(() => messages.some((m) => m.text === "still here"));
    expect(statuses.at(-1)).toMatchObject({ status: "connected", attempt: 0 });
  });
});
