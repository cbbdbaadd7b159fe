import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FeaturesFactory } from "../../src/app.js";
import { userRoom } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * Features learn that a socket leaves through the app's one shared listener pair: every
 * feature is told, in order, even when one before it throws.
 */
describe("feature disconnect hooks", () => {
  let t: TestApp;
  const seen: string[] = [];

  const features: FeaturesFactory = () => [
    {
      name: "broken",
      onDisconnecting() {
        throw new Error("broken disconnecting hook");
      },
      onDisconnect() {
        throw new Error("broken disconnect hook");
      },
    },
    {
      name: "recorder",
      onDisconnecting(socket) {
        seen.push(
          `disconnecting ${socket.data.user.id} in user room: ${socket.rooms.has(userRoom(socket.data.user.id))}`,
        );
      },
      onDisconnect(socket) {
        seen.push(
          `disconnect ${socket.data.user.id} in user room: ${socket.rooms.has(userRoom(socket.data.user.id))}`,
        );
      },
    },
  ];

  beforeAll(async () => {
    t = await startApp({}, features);
  });
  afterAll(async () => {
    closeAllClients();
    await t.close();
  });

  it("tells every feature, still in its rooms when disconnecting, even after a feature's hook throws", async () => {
    const client = await connected(t.url, await tokenFor("alice"));
    const socketId = client.id;
    client.disconnect();
    await eventually(() => seen.length === 2);
    expect(seen).toEqual(["disconnecting alice in user room: true", "disconnect alice in user room: false"]);
    const failures = t.logs.lines.filter((l) => String(l.msg).endsWith("hook failed"));
    expect(failures.map((l) => [l.msg, l.feature, l.socketId])).toEqual([
      ["disconnecting hook failed", "broken", socketId],
      ["disconnect hook failed", "broken", socketId],
    ]);
    // The app's own bookkeeping ran too.
    await eventually(() => t.logs.lines.some((l) => l.msg === "disconnected" && l.socketId === socketId));
  });
});
