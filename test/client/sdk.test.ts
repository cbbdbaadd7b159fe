import { createServer } from "node:http";
import { type AddressInfo, createServer as createTcpServer, type Socket as TcpSocket } from "node:net";
import { Server } from "socket.io";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connect, RealtimeError } from "../../packages/client/src/index.js";
import { userRoom } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, ok } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";
import { closeSdkClients, Gate, recordSdk, sdkClient } from "./support.js";

const API_KEY = "internal-test-key-0123456789abcdef";
const ROOM = "team:core";

describe("client SDK against the real server", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp({
      INTERNAL_API_KEY: API_KEY,
      // Offline right after the last socket goes: the presence test needs a real offline.
      PRESENCE_GRACE_MS: "0",
      PRESENCE_TTL_MS: "300",
      // Tokens end at exp: the refresh test would pass without a refresh inside the leeway.
      JWT_CLOCK_TOLERANCE_SEC: "0",
    });
  });
  afterEach(() => {
    closeSdkClients();
    closeAllClients();
  });
  afterAll(async () => {
    await app.close();
  });

  it("resolves requests with the ack's data and rejects with the catalogue's code", async () => {
    const alice = sdkClient(app.url, "alice");
    const joined = await alice.chat.join(ROOM);
    expect(joined).toMatchObject({ roomId: ROOM, messages: [], hasMore: false, online: ["alice"] });
    expect(alice.userId).toBe("alice");

    const sent = await alice.chat.send(ROOM, "hello");
    expect(sent).toMatchObject({ roomId: ROOM, senderId: "alice", text: "hello" });
    expect(sent.clientMsgId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const history = await alice.chat.history(ROOM);
    expect(history.messages.map((m) => m.id)).toEqual([sent.id]);

    const forbidden = await alice.chat.join("secret:vault").catch((err: unknown) => err);
    expect(forbidden).toBeInstanceOf(RealtimeError);
    expect(forbidden).toMatchObject({ code: "FORBIDDEN" });
    expect(alice.chat.rooms).toEqual([ROOM]);

    await expect(alice.chat.join("Not A Room")).rejects.toMatchObject({
      code: "INVALID_PAYLOAD",
      fields: [expect.objectContaining({ path: "roomId" })],
    });
    await expect(alice.chat.send("team:elsewhere", "hi")).rejects.toMatchObject({ code: "NOT_IN_ROOM" });
    await expect(alice.chat.send(ROOM, "   ")).rejects.toMatchObject({ code: "INVALID_PAYLOAD" });
  });

  it("delivers each message once, ends typing indicators by itself, and reports members", async () => {
    const carol = sdkClient(app.url, "carol", { typingTimeoutMs: 300 });
    const messages = recordSdk(carol, "message");
    const typing = recordSdk(carol, "typing");
    const members = recordSdk(carol, "member");
    await carol.chat.join(ROOM);

    const dave = await connected(app.url, await tokenFor("dave", { rooms: ["team:*"] }));
    await ok(dave, "chat:join", { roomId: ROOM });
    await eventually(() => members.some((m) => m.userId === "dave" && m.event === "join"));

    await ok(dave, "chat:typing", { roomId: ROOM, typing: true });
    await eventually(() => typing.length === 2); // true, then false with no news from dave
    await ok(dave, "chat:typing", { roomId: ROOM, typing: true });
    await eventually(() => typing.length === 3);
    const sent = await ok(dave, "chat:send", { roomId: ROOM, text: "typed it" });
    await eventually(() => messages.length === 1);
    expect(typing.map((t) => `${t.userId}:${t.typing}`)).toEqual([
      "dave:true",
      "dave:false",
      "dave:true",
      "dave:false",
    ]);

    // Carol's own message comes back live and in the ack: still one `message` event.
    await carol.chat.send(ROOM, "mine");
    await ok(dave, "chat:send", { roomId: ROOM, text: "last" });
    await eventually(() => messages.some((m) => m.text === "last"));
    expect(messages.map((m) => m.text)).toEqual(["typed it", "mine", "last"]);
    expect(messages[0]?.id).toBe(sent.id);
  });

  it("subscribes to presence, follows changes, and sets its status again after coming back", async () => {
    const erin = sdkClient(app.url, "erin");
    const changes = recordSdk(erin, "presence");
    const gate = new Gate();
    const frank = sdkClient(app.url, "frank", { gate });
    await frank.presence.set("busy", "in a meeting");

    const states = await erin.presence.subscribe(["frank"]);
    expect(states).toEqual([
      expect.objectContaining({ userId: "frank", status: "busy", text: "in a meeting" }),
    ]);

    // Frank drops and stays away long enough to go offline (which resets his status)...
    gate.close();
    app.app.io.in(userRoom("frank")).disconnectSockets(true);
    await eventually(() => changes.some((s) => s.userId === "frank" && s.status === "offline"));
    // ...and comes back: his client sets "busy" again by itself.
    gate.open();
    await eventually(() => changes.at(-1)?.status === "busy" && frank.status === "connected");
    const [now] = await erin.presence.query(["frank"]);
    expect(now).toMatchObject({ status: "busy", text: "in a meeting", devices: 1 });
  });

  it("lists and reads notifications and follows the unread count", async () => {
    const gina = sdkClient(app.url, "gina");
    const incoming = recordSdk(gina, "notification");
    const unread = recordSdk(gina, "unread");
    await eventually(() => gina.status === "connected");
    await eventually(() => unread.length > 0); // the count sent on connect

    const res = await fetch(`${app.url}/internal/notifications`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ userIds: ["gina"], type: "test", title: "Build passed" }),
    });
    expect(res.status).toBe(202);
    await eventually(() => incoming.length === 1);
    expect(incoming[0]).toMatchObject({ type: "test", title: "Build passed", readAt: null });

    const page = await gina.notifications.list({ limit: 10 });
    expect(page).toMatchObject({ unreadCount: 1, hasMore: false });
    expect(page.items.map((n) => n.id)).toEqual([incoming[0]?.id]);
    await expect(gina.notifications.read("all")).resolves.toEqual({ unreadCount: 0 });
    await eventually(() => unread.at(-1)?.count === 0);
  });

  it("emits a notification once when a publisher's retry sends it again", async () => {
    const lena = sdkClient(app.url, "lena");
    const incoming = recordSdk(lena, "notification");
    await eventually(() => lena.status === "connected");
    const publish = (body: object) =>
      fetch(`${app.url}/internal/notifications`, {
        method: "POST",
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ userIds: ["lena"], type: "test", ...body }),
      });
    const once = { title: "Deploy done", idempotencyKey: "deploy-42" };
    expect((await publish(once)).status).toBe(202);
    const retry = await publish(once);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect((await publish({ title: "Next one" })).status).toBe(202);
    await eventually(() => incoming.some((n) => n.title === "Next one"));
    expect(incoming.map((n) => n.title)).toEqual(["Deploy done", "Next one"]);
  });

  it("refreshes its token before it expires without dropping the connection", async () => {
    let fetches = 0;
    let firstExp = 0;
    const client = connect({
      url: app.url,
      getToken: async () => {
        fetches += 1;
        const token = await tokenFor("hank", { rooms: ["team:*"] }, { expiresIn: 3 });
        if (firstExp === 0) firstExp = JSON.parse(atob(token.split(".")[1] as string)).exp as number;
        return token;
      },
    });
    const statuses = recordSdk(client, "status");
    const errors = recordSdk(client, "error");
    try {
      await eventually(() => client.status === "connected");
      // Past the first token's expiry: without auth:refresh the server would have cut the socket.
      await eventually(() => Date.now() > firstExp * 1000 + 1500, 8000, 100);
      expect(fetches).toBeGreaterThanOrEqual(2);
      expect(statuses.map((s) => s.status)).toEqual(["connected"]);
      expect(errors).toEqual([]);
      await expect(client.chat.join(ROOM)).resolves.toMatchObject({ roomId: ROOM });
    } finally {
      client.close();
    }
  });

  it("fetches a new token when the handshake refuses an expired one", async () => {
    let fetches = 0;
    const client = connect({
      url: app.url,
      reconnectDelayMs: 50,
      getToken: () => {
        fetches += 1;
        return tokenFor("ivan", {}, { expiresIn: fetches === 1 ? -60 : 600 });
      },
    });
    const statuses = recordSdk(client, "status");
    try {
      await eventually(() => client.status === "connected");
      expect(fetches).toBe(2);
      expect(statuses[0]).toMatchObject({ status: "connecting", error: { code: "TOKEN_EXPIRED" } });
    } finally {
      client.close();
    }
  });

  it("keeps retrying while getToken fails, and connects once it works", async () => {
    let fetches = 0;
    const client = connect({
      url: app.url,
      reconnectDelayMs: 20,
      reconnectDelayMaxMs: 50,
      getToken: () => {
        fetches += 1;
        if (fetches <= 4) return Promise.reject(new Error("token endpoint unreachable"));
        return tokenFor("judy", {});
      },
    });
    const errors = recordSdk(client, "error");
    try {
      await eventually(() => client.status === "connected");
      expect(fetches).toBe(5);
      expect(errors.length).toBeGreaterThanOrEqual(4);
      expect(errors[0]).toMatchObject({ code: "TOKEN_MISSING", message: "token endpoint unreachable" });
    } finally {
      client.close();
    }
  });

  it("gives up after repeated token refusals and rejects what is pending", async () => {
    let fetches = 0;
    const client = connect({
      url: app.url,
      reconnectDelayMs: 20,
      reconnectDelayMaxMs: 50,
      getToken: () => {
        fetches += 1;
        return "not-a-token";
      },
    });
    const pending = client.chat.join(ROOM);
    await expect(pending).rejects.toMatchObject({ code: "TOKEN_INVALID" });
    expect(client.status).toBe("closed");
    expect(fetches).toBe(3);
  });
});

describe("client SDK timeouts", () => {
  it("gives a connection attempt that gets no answer up after connectTimeoutMs, then tries again", async () => {
    // Accepts TCP connections and never answers: an attempt stuck in a busy server's queue.
    const opened: { at: number; closedAt?: number }[] = [];
    const sockets: TcpSocket[] = [];
    const stuck = createTcpServer((socket) => {
      const attempt: { at: number; closedAt?: number } = { at: Date.now() };
      opened.push(attempt);
      sockets.push(socket);
      socket.on("error", () => {});
      // Reads (and drops) the upgrade request, so that the client's hang-up is seen.
      socket.resume();
      socket.on("close", () => {
        attempt.closedAt = Date.now();
      });
    });
    await new Promise<void>((resolve) => stuck.listen(0, "127.0.0.1", resolve));
    const { port } = stuck.address() as AddressInfo;
    const client = connect({
      url: `http://127.0.0.1:${port}`,
      getToken: () => "any",
      connectTimeoutMs: 400,
      reconnectDelayMs: 50,
      reconnectDelayMaxMs: 50,
    });
    try {
      await eventually(() => opened.length >= 2 && opened[0]?.closedAt !== undefined, 5000);
      const first = opened[0] as { at: number; closedAt?: number };
      // Given up by the client, not before its timeout.
      expect((first.closedAt as number) - first.at).toBeGreaterThanOrEqual(350);
      expect(client.status).toBe("connecting");
    } finally {
      client.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => stuck.close(() => resolve()));
    }
  });

  it("rejects with TIMEOUT when no answer comes, and with DISCONNECTED once closed", async () => {
    // A real Socket.IO server that accepts everyone and never answers.
    const httpServer = createServer();
    const silent = new Server(httpServer);
    await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    const { port } = httpServer.address() as AddressInfo;
    const client = connect({ url: `http://127.0.0.1:${port}`, getToken: () => "any", ackTimeoutMs: 200 });
    try {
      await eventually(() => client.status === "connected");
      await expect(client.chat.history(ROOM)).rejects.toMatchObject({ code: "TIMEOUT" });
      const sending = client.chat.send(ROOM, "never acknowledged");
      client.close();
      await expect(sending).rejects.toMatchObject({ code: "DISCONNECTED" });
      await expect(client.presence.query(["x"])).rejects.toMatchObject({ code: "DISCONNECTED" });
      expect(client.status).toBe("closed");
    } finally {
      client.close();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
