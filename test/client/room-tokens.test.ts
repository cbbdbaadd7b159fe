import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { userRoom } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";
import { closeSdkClients, recordSdk, sdkClient } from "./support.js";

/** The SDK with room tokens: sent with every join of the room, and a `left` event when the server takes it out. */

describe("client SDK with room tokens", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp({ JWT_CLOCK_TOLERANCE_SEC: "0" });
  });
  afterEach(() => {
    closeSdkClients();
    closeAllClients();
  });
  afterAll(async () => {
    await app.close();
  });

  it("sends the room token with the join and fetches a fresh one for the rejoin after a reconnect", async () => {
    const alice = sdkClient(app.url, "alice", { claims: { rooms: [] } });
    let fetched = 0;
    const token = () => {
      fetched += 1;
      return tokenFor("alice", { room: "group:1" });
    };
    await alice.chat.join("group:1", { token });
    expect(fetched).toBe(1);
    const rejoins = recordSdk(alice, "rejoin");

    app.app.io.in(userRoom("alice")).disconnectSockets(true);
    await eventually(() => rejoins.length === 1);
    expect(fetched).toBe(2);
    const bob = await connected(app.url, await tokenFor("bob", { rooms: ["group:*"] }));
    await ok(bob, "chat:join", { roomId: "group:1" });
    const messages = recordSdk(alice, "message");
    await ok(bob, "chat:send", { roomId: "group:1", text: "still there" });
    await eventually(() => messages.some((m) => m.text === "still there"));
  });

  it("stops keeping a room whose room token expired, with a left event", async () => {
    const alice = sdkClient(app.url, "alice", { claims: { rooms: [] } });
    const left = recordSdk(alice, "left");
    await alice.chat.join("group:2", {
      token: await tokenFor("alice", { room: "group:2" }, { expiresIn: 2 }),
    });
    expect(alice.chat.rooms).toEqual(["group:2"]);
    await eventually(() => left.length === 1, 5000);
    expect(left).toEqual([{ roomId: "group:2", reason: "expired" }]);
    expect(alice.chat.rooms).toEqual([]);
    await expect(alice.chat.send("group:2", "too late")).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});
