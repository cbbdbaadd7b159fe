import { generateKeyPairSync } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { signToken } from "../../src/auth/sign.js";
import {
  closeAllClients,
  connectError,
  connected,
  nextEvent,
  ok,
  record,
  request,
  sleep,
} from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";
import { type ChatTestApp, startChatApp, user } from "./support.js";

/** Rooms opened by a room token (`chat:join {roomId, token}`), beside the `rooms` claim. */

const apps: ChatTestApp[] = [];
afterEach(async () => {
  closeAllClients();
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function chatApp(env: Record<string, string | undefined> = {}) {
  // No clock tolerance: a room token ends exactly at its exp.
  const app = await startChatApp({ JWT_CLOCK_TOLERANCE_SEC: "0", ...env });
  apps.push(app);
  return app;
}

const roomToken = (sub: string, room: string, expiresIn: number | string = "1h") =>
  tokenFor(sub, { room }, { expiresIn });

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("chat:join with a room token", () => {
  it("joins a room the connection's claims do not grant, and the token's holder may send there", async () => {
    const app = await chatApp();
    const alice = await user(app, "alice", { rooms: ["team:*"] });
    const refused = await request(alice, "chat:join", { roomId: "group:42" });
    expect(refused).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });

    const joined = await ok(alice, "chat:join", {
      roomId: "group:42",
      token: await roomToken("alice", "group:42"),
    });
    expect(joined.roomId).toBe("group:42");
    const sent = await ok(alice, "chat:send", { roomId: "group:42", text: "hello" });
    expect(sent.text).toBe("hello");
    await ok(alice, "chat:typing", { roomId: "group:42", typing: true });
    expect((await ok(alice, "chat:history", { roomId: "group:42" })).messages).toHaveLength(1);
  });

  it("opens every room under a prefix claim, and no other", async () => {
    const app = await chatApp();
    const bob = await user(app, "bob", { rooms: [] });
    const token = await roomToken("bob", "group:7*");
    expect((await ok(bob, "chat:join", { roomId: "group:7", token })).roomId).toBe("group:7");
    expect((await ok(bob, "chat:join", { roomId: "group:77", token })).roomId).toBe("group:77");
    const other = await request(bob, "chat:join", { roomId: "group:8", token });
    expect(other).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
  });

  it.each([
    ["an expired room token", () => roomToken("carol", "group:1", -60), "TOKEN_EXPIRED"],
    ["another user's room token", () => roomToken("mallory", "group:1"), "FORBIDDEN"],
    ["another room's token", () => roomToken("carol", "group:2"), "FORBIDDEN"],
    [
      "a connection token instead of a room token",
      () => tokenFor("carol", { rooms: ["group:1"] }),
      "TOKEN_INVALID",
    ],
    [
      "a token signed with another key",
      () => tokenFor("carol", { room: "group:1" }, { secret: "x".repeat(40) }),
      "TOKEN_INVALID",
    ],
    [
      "an unsigned token (alg none)",
      async () =>
        `${base64url({ alg: "none", typ: "JWT" })}.${base64url({ sub: "carol", room: "group:1", exp: Math.floor(Date.now() / 1000) + 600 })}.`,
      "TOKEN_INVALID",
    ],
  ])("refuses %s", async (_name, token, code) => {
    const app = await chatApp();
    const carol = await user(app, "carol", { rooms: [] });
    const res = await request(carol, "chat:join", { roomId: "group:1", token: await token() });
    expect(res).toMatchObject({ ok: false, error: { code } });
    expect(await request(carol, "chat:send", { roomId: "group:1", text: "x" })).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN" },
    });
  });

  it("refuses a room token that lives longer than JWT_MAX_LIFETIME_SEC", async () => {
    const app = await chatApp({ JWT_MAX_LIFETIME_SEC: "3600" });
    const dan = await user(app, "dan", { rooms: [] });
    const res = await request(dan, "chat:join", {
      roomId: "group:1",
      token: await roomToken("dan", "group:1", 7200),
    });
    expect(res).toMatchObject({ ok: false, error: { code: "TOKEN_INVALID" } });
  });

  it("refuses a room token as the connection's token", async () => {
    const app = await chatApp();
    const refused = await connectError(app.url, await roomToken("erin", "group:1"));
    expect(refused.data).toMatchObject({ status: 401, code: "TOKEN_INVALID" });
  });

  it("refuses alg confusion with a public key: an HS256 token signed with the public key's PEM", async () => {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString();
    const app = await chatApp({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: publicPem });
    const sign = (claims: { room?: string; rooms?: string[] }, key: Parameters<typeof signToken>[1]) =>
      signToken({ sub: "fay", ...claims }, key);
    const fay = await connected(app.url, await sign({ rooms: [] }, { key: privateKey, alg: "RS256" }));

    const confused = await sign({ room: "group:1" }, { key: publicPem, alg: "HS256" });
    expect(await request(fay, "chat:join", { roomId: "group:1", token: confused })).toMatchObject({
      ok: false,
      error: { code: "TOKEN_INVALID" },
    });
    const genuine = await sign({ room: "group:1" }, { key: privateKey, alg: "RS256" });
    expect((await ok(fay, "chat:join", { roomId: "group:1", token: genuine })).roomId).toBe("group:1");
  });

  it("takes the socket out of the room at the room token's exp, announcing the member leave", async () => {
    const app = await chatApp();
    const gus = await user(app, "gus", { rooms: [] });
    const hal = await user(app, "hal", { rooms: ["group:*"] });
    await ok(hal, "chat:join", { roomId: "group:5" });
    const members = record(hal, "chat:member");
    const left = nextEvent(gus, "chat:left", 6000);

    await ok(gus, "chat:join", { roomId: "group:5", token: await roomToken("gus", "group:5", 2) });
    expect(await left).toEqual({ roomId: "group:5", reason: "expired" });
    expect(members.filter((m) => m.userId === "gus").map((m) => m.event)).toEqual(["join", "leave"]);
    // Out of the room: its messages no longer reach gus, and gus cannot send there.
    const received = record(gus, "chat:message");
    await ok(hal, "chat:send", { roomId: "group:5", text: "after" });
    expect(await request(gus, "chat:send", { roomId: "group:5", text: "x" })).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN" },
    });
    await sleep(100);
    expect(received).toEqual([]);
  });

  it("keeps the socket in the room past the first exp when a later room token is presented with a new chat:join", async () => {
    const app = await chatApp();
    const ida = await user(app, "ida", { rooms: [] });
    const left = record(ida, "chat:left");
    await ok(ida, "chat:join", { roomId: "group:9", token: await roomToken("ida", "group:9", 2) });
    await ok(ida, "chat:join", { roomId: "group:9", token: await roomToken("ida", "group:9", 60) });
    await sleep(3000);
    expect(left).toEqual([]);
    expect((await ok(ida, "chat:send", { roomId: "group:9", text: "still here" })).text).toBe("still here");
  });

  it("lists a room opened by a room token in chat:rooms for the socket that holds the token", async () => {
    const app = await chatApp();
    const jo = await user(app, "jo", { rooms: [] });
    await ok(jo, "chat:join", { roomId: "group:3", token: await roomToken("jo", "group:3") });
    await ok(jo, "chat:send", { roomId: "group:3", text: "hi" });
    expect((await ok(jo, "chat:rooms", {})).rooms.map((r) => r.roomId)).toEqual(["group:3"]);
    // Another device of jo's without the token: the room is not its to list.
    const other = await user(app, "jo", { rooms: [] });
    expect((await ok(other, "chat:rooms", {})).rooms).toEqual([]);
  });
});
