import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BackendReceiver } from "../helpers/backend-receiver.js";
import { closeAllClients, nextEvent, ok, request } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";
import { type ChatTestApp, startChatApp, uniquePrefix, user } from "./support.js";

/** The moderation hook (MESSAGE_HOOK_URL): every chat:send is reviewed by the backend before it is stored. */

const HOOK_KEY = "moderation-test-key";

let redis: RedisServer;
let backend: BackendReceiver;
const apps: ChatTestApp[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
beforeEach(async () => {
  backend = await new BackendReceiver().start();
});
afterEach(async () => {
  closeAllClients();
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await backend.stop();
});
afterAll(async () => {
  await redis.destroy();
});

async function chatApp(env: Record<string, string> = {}) {
  const app = await startChatApp({
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: uniquePrefix("moderation"),
    MESSAGE_HOOK_URL: `${backend.url}/moderate`,
    MESSAGE_HOOK_KEY: HOOK_KEY,
    ...env,
  });
  apps.push(app);
  return app;
}

/** A sender and a reader in `team:mod`. */
async function room(env: Record<string, string> = {}) {
  const app = await chatApp(env);
  const sender = await user(app, "sid", { name: "Sid", rooms: ["team:*"] });
  const reader = await user(app, "rae");
  await ok(sender, "chat:join", { roomId: "team:mod" });
  await ok(reader, "chat:join", { roomId: "team:mod" });
  return { sender, reader };
}

const historyTexts = async (socket: Awaited<ReturnType<typeof room>>["reader"]) =>
  (await ok(socket, "chat:history", { roomId: "team:mod" })).messages.map((m) => m.text);

describe("the moderation hook", () => {
  it("posts the message to the backend before storing it, and stores it as sent when allowed", async () => {
    backend.answer = () => ({ body: { action: "allow" } });
    const { sender, reader } = await room();
    const delivered = nextEvent(reader, "chat:message");
    const message = await ok(sender, "chat:send", {
      roomId: "team:mod",
      text: "  hello  ",
      clientMsgId: "m1",
    });
    expect(message.text).toBe("hello");
    expect((await delivered).text).toBe("hello");
    expect(backend.calls).toEqual([
      {
        path: "/moderate",
        authorization: `Bearer ${HOOK_KEY}`,
        body: { roomId: "team:mod", userId: "sid", senderName: "Sid", text: "hello", clientMsgId: "m1" },
      },
    ]);
  });

  it("refuses a rejected message FORBIDDEN with the backend's reason, storing nothing", async () => {
    backend.answer = () => ({ body: { action: "reject", reason: "no links please" } });
    const { sender, reader } = await room();
    const res = await request(sender, "chat:send", { roomId: "team:mod", text: "http://spam" });
    expect(res).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    expect(res.ok ? "" : res.error.message).toContain("no links please");
    expect(await historyTexts(reader)).toEqual([]);
    const metrics = await (await fetch(`${apps[0]?.url}/metrics`)).text();
    expect(metrics).toContain('rt_backend_hook_calls_total{hook="moderation",outcome="reject"} 1');
    expect(metrics).toContain('rt_backend_hook_duration_seconds_count{hook="moderation"} 1');
  });

  it("stores and delivers the backend's replacement text", async () => {
    backend.answer = (call) => ({
      body: { action: "replace", text: String(call.body.text).replace("darn", "****") },
    });
    const { sender, reader } = await room();
    const delivered = nextEvent(reader, "chat:message");
    const message = await ok(sender, "chat:send", { roomId: "team:mod", text: "oh darn" });
    expect(message.text).toBe("oh ****");
    expect((await delivered).text).toBe("oh ****");
    expect(await historyTexts(reader)).toEqual(["oh ****"]);
  });

  it("refuses the send UNAVAILABLE on a timeout with MESSAGE_HOOK_FAILURE=closed, storing nothing", async () => {
    backend.answer = () => ({ body: { action: "allow" }, delayMs: 2000 });
    const { sender, reader } = await room({ MESSAGE_HOOK_TIMEOUT_MS: "200", MESSAGE_HOOK_FAILURE: "closed" });
    const res = await request(sender, "chat:send", { roomId: "team:mod", text: "slow" });
    expect(res).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    expect(await historyTexts(reader)).toEqual([]);
  });

  it("stores the message as sent on a timeout with MESSAGE_HOOK_FAILURE=open", async () => {
    backend.answer = () => ({ body: { action: "reject" }, delayMs: 2000 });
    const { sender, reader } = await room({ MESSAGE_HOOK_TIMEOUT_MS: "200", MESSAGE_HOOK_FAILURE: "open" });
    expect((await ok(sender, "chat:send", { roomId: "team:mod", text: "through" })).text).toBe("through");
    expect(await historyTexts(reader)).toEqual(["through"]);
  });

  it("follows MESSAGE_HOOK_FAILURE on a 5xx and on an unreadable answer", async () => {
    backend.answer = () => ({ status: 500, body: { action: "allow" } });
    const { sender } = await room();
    expect(await request(sender, "chat:send", { roomId: "team:mod", text: "a" })).toMatchObject({
      ok: false,
      error: { code: "UNAVAILABLE" },
    });
    backend.answer = () => ({ body: { action: "replace", text: "   " } });
    expect(await request(sender, "chat:send", { roomId: "team:mod", text: "b" })).toMatchObject({
      ok: false,
      error: { code: "UNAVAILABLE" },
    });
  });

  it("does not ask again for a retry of a stored clientMsgId: the retry gets the stored message", async () => {
    backend.answer = () => ({ body: { action: "replace", text: "moderated" } });
    const { sender, reader } = await room();
    const first = await ok(sender, "chat:send", {
      roomId: "team:mod",
      text: "original",
      clientMsgId: "retry-1",
    });
    const retry = await ok(sender, "chat:send", {
      roomId: "team:mod",
      text: "original",
      clientMsgId: "retry-1",
    });
    expect(retry).toEqual(first);
    expect(backend.calls).toHaveLength(1);
    expect(await historyTexts(reader)).toEqual(["moderated"]);
  });

  it("reviews an edit's new text too: a rejected edit changes nothing, a replacement is stored", async () => {
    backend.answer = (call) =>
      call.body.editOf === undefined
        ? { body: { action: "allow" } }
        : String(call.body.text).includes("spam")
          ? { body: { action: "reject", reason: "no spam" } }
          : { body: { action: "replace", text: "edited (moderated)" } };
    const { sender, reader } = await room();
    const message = await ok(sender, "chat:send", { roomId: "team:mod", text: "first" });
    const refused = await request(sender, "chat:edit", {
      roomId: "team:mod",
      messageId: message.id,
      text: "spam",
    });
    expect(refused).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    const edited = await ok(sender, "chat:edit", {
      roomId: "team:mod",
      messageId: message.id,
      text: "second",
    });
    expect(edited.message.text).toBe("edited (moderated)");
    expect(backend.calls.map((c) => c.body.editOf)).toEqual([undefined, message.id, message.id]);
    const texts = await historyTexts(reader);
    expect(texts[0]).toBe("edited (moderated)");
    expect(texts).not.toContain("spam");
    expect(texts).not.toContain("second");
  });
});
