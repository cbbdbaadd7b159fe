import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { userRoom } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, record } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

/** A raw Engine.IO/Socket.IO client whose TCP reads can be paused, like a stuck browser tab. */
async function rawClient(
  url: string,
  token: string,
): Promise<{ ws: WebSocket; pause(): void; closed: Promise<void> }> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
  const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    ws.on("error", reject);
    ws.on("message", (data) => {
      const frame = data.toString();
      if (frame.startsWith("0")) ws.send(`40${JSON.stringify({ token })}`);
      else if (frame.startsWith("40")) resolve();
      else if (frame === "2") ws.send("3");
    });
  });
  // biome-ignore lint/suspicious/noExplicitAny: ws keeps its net.Socket in a private field
  const tcp = (ws as any)._socket as import("node:net").Socket;
  return { ws, pause: () => tcp.pause(), closed };
}

/** A raw long-polling client that connects, then never polls again, like a frozen tab on polling. */
async function stalledPoller(url: string, token: string): Promise<void> {
  const base = `${url}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const { sid } = JSON.parse(open.slice(open.indexOf("{"))) as { sid: string };
  const post = await fetch(`${base}&sid=${sid}`, { method: "POST", body: `40${JSON.stringify({ token })}` });
  expect(await post.text()).toBe("ok");
  // The namespace's answer: connected, then nothing is read any more.
  expect(await (await fetch(`${base}&sid=${sid}`)).text()).toMatch(/^40/);
}

describe("slow consumers", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp({ SOCKET_MAX_BUFFERED_BYTES: String(256 * 1024) }, () => []);
  });
  afterAll(async () => {
    closeAllClients();
    await t.close();
  });

  it("disconnects a client that stops reading once its buffer passes the cap, and logs why", async () => {
    const slow = await rawClient(t.url, await tokenFor("slow"));
    const healthy = await connected(t.url, await tokenFor("healthy"));
    const healthySeen = record(healthy, "notification:unread");
    slow.pause();

    const chunk = "x".repeat(32 * 1024);
    let sentToHealthy = 0;
    // 32 MiB offered to the stuck client, far beyond kernel buffers and the 256 KiB cap.
    for (let i = 0; i < 1024 && t.app.io.of("/").sockets.size > 1; i++) {
      t.app.io.to(userRoom("slow")).emit("notification:unread", { count: i, pad: chunk } as never);
      if (i % 32 === 0) {
        t.app.io.to(userRoom("healthy")).emit("notification:unread", { count: i });
        sentToHealthy += 1;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await eventually(() => t.logs.lines.some((l) => l.msg === "disconnecting slow consumer"), 5000);
    const line = t.logs.find((l) => l.msg === "disconnecting slow consumer");
    expect(line).toMatchObject({ userId: "slow", reason: "slow consumer" });
    expect(line?.bufferedBytes as number).toBeGreaterThan(256 * 1024);
    await eventually(
      () => [...t.app.io.of("/").sockets.values()].every((s) => s.data.user.id !== "slow"),
      3000,
    );

    // The healthy client kept its connection and got every message meant for it.
    expect(healthy.connected).toBe(true);
    await eventually(() => healthySeen.length === sentToHealthy, 2000);
    expect(healthySeen.map((p) => p.count)).toEqual(Array.from({ length: sentToHealthy }, (_, k) => k * 32));
    slow.ws.terminate();
  });

  it("disconnects a long-polling client that stops polling once its queue passes the cap", async () => {
    await stalledPoller(t.url, await tokenFor("stalled-poller"));
    const chunk = "x".repeat(32 * 1024);
    const stillThere = () =>
      [...t.app.io.of("/").sockets.values()].some((s) => s.data.user.id === "stalled-poller");
    expect(stillThere()).toBe(true);
    // 1 MiB queued for a client that never polls, four times the cap.
    for (let i = 0; i < 32; i++) {
      t.app.io.to(userRoom("stalled-poller")).emit("notification:unread", { count: i, pad: chunk } as never);
    }
    await eventually(
      () =>
        t.logs.lines.some((l) => l.msg === "disconnecting slow consumer" && l.userId === "stalled-poller"),
      5000,
    );
    const line = t.logs.find((l) => l.msg === "disconnecting slow consumer" && l.userId === "stalled-poller");
    expect(line?.bufferedBytes as number).toBeGreaterThan(256 * 1024);
    await eventually(() => !stillThere(), 3000);
  });
});
