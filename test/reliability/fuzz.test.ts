import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { startApp, type TestApp } from "../helpers/app.js";
import { ChildServer } from "../helpers/child-server.js";
import { closeAllClients, connected, eventually, request } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

/** A small seeded PRNG, so a failing run can be replayed. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EVENTS = [
  "chat:join",
  "chat:send",
  "chat:history",
  "chat:typing",
  "chat:read",
  "chat:leave",
  "presence:set",
  "presence:subscribe",
  "presence:query",
  "notification:list",
  "notification:read",
  "auth:refresh",
  "nope",
  "__proto__",
  "constructor",
  "toString",
];

/** Adversarial payloads: wrong types, huge strings, deep nesting, prototype keys. */
function payloads(random: () => number): unknown[] {
  const deep = (n: number): unknown => (n === 0 ? {} : { a: deep(n - 1) });
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)] as T;
  return [
    null,
    42,
    "str",
    true,
    [],
    [[[[[]]]]],
    { roomId: 12 },
    { roomId: "team:x", text: { nested: true } },
    { roomId: "team:x".repeat(100), text: "x" },
    { roomId: "team:x", text: "x".repeat(50_000) },
    { roomId: "team:x", since: "not-an-id" },
    { userIds: Array.from({ length: 600 }, (_, i) => `u${i}`) },
    { userIds: [{ $gt: "" }] },
    { ids: "all" },
    { all: "true" },
    { limit: -1 },
    { limit: 1e308 },
    { limit: Number.NaN },
    { token: pick(["", "a.b.c", "x".repeat(20_000)]) },
    JSON.parse('{"__proto__": {"polluted": "yes"}, "roomId": "team:a", "text": "hi"}'),
    JSON.parse('{"constructor": {"prototype": {"polluted": "yes"}}, "status": "online"}'),
    { status: "online", __proto__: { polluted: "yes" } },
    deep(200),
  ];
}

/** Raw frames below Socket.IO: broken Engine.IO and Socket.IO packets. */
function rawFrames(random: () => number): (string | Buffer)[] {
  const frames: (string | Buffer)[] = [
    "",
    "9",
    "4",
    "42",
    "42[",
    '42["chat:send"',
    "42[1,2,3]",
    '42{"a":1}',
    "43",
    "43[]",
    '4312345["x"]',
    "44",
    '44{"message":"x"}',
    "41",
    "40{bad json",
    '451-["chat:send",{"_placeholder":true,"num":0}]',
    '4999-["chat:send",{"_placeholder":true,"num":0}]',
    '4-1-["x"]',
    `42${"[".repeat(5000)}`,
    `42["chat:send",${JSON.stringify({ text: "é\u0000\uffff\ud800" })}]`,
    "3",
    "2",
    "6",
    "5",
    Buffer.from([0, 1, 2, 3]),
    Buffer.alloc(1024, 0xff),
  ];
  for (let i = 0; i < 40; i++) {
    const length = Math.floor(random() * 64);
    frames.push(Array.from({ length }, () => String.fromCharCode(Math.floor(random() * 0x7f))).join(""));
  }
  return frames;
}

async function rawSession(url: string, token: string): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
  await new Promise<void>((resolve, reject) => {
    ws.once("error", reject);
    const onMessage = (data: Buffer) => {
      const frame = data.toString();
      if (frame.startsWith("0")) ws.send(`40${JSON.stringify({ token })}`);
      else if (frame.startsWith("40")) {
        ws.off("message", onMessage);
        resolve();
      }
    };
    ws.on("message", onMessage);
  });
  ws.on("error", () => {});
  ws.on("message", (data) => {
    if (data.toString() === "2") ws.send("3");
  });
  return ws;
}

const seed = Number(process.env.FUZZ_SEED ?? 20261126);

describe("adversarial input against the built server", () => {
  let server: ChildServer;

  beforeAll(async () => {
    server = await new ChildServer({ SOCKET_MAX_HTTP_BUFFER_SIZE: String(64 * 1024) }).start();
  });
  afterAll(async () => {
    closeAllClients();
    await server.kill();
  });

  const heapUsed = async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith("nodejs_heap_size_used_bytes "));
    return Number(line?.split(" ")[1]);
  };

  it(`survives thousands of malformed frames and payloads (seed ${seed}), and other clients never notice`, async () => {
    const random = prng(seed);
    const bystander = await connected(server.url, await tokenFor("bystander"));
    let bystanderDropped = false;
    bystander.on("disconnect", () => {
      bystanderDropped = true;
    });
    const heapBefore = await heapUsed();

    let sent = 0;
    // Valid Socket.IO framing, hostile content: every event × every payload, with and without acks.
    const attacker = await rawSession(server.url, await tokenFor("attacker", { rooms: ["team:*"] }));
    const shapes = payloads(random);
    for (let round = 0; round < 4; round++) {
      for (const event of EVENTS) {
        for (const payload of shapes) {
          const ack = random() < 0.5 ? String(Math.floor(random() * 1e6)) : "";
          attacker.send(`42${ack}${JSON.stringify([event, payload])}`);
          sent += 1;
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    // Broken packets: each may close the attacker's connection; open a new one when it does.
    let session = await rawSession(server.url, await tokenFor("attacker2"));
    for (let round = 0; round < 10; round++) {
      for (const frame of rawFrames(random)) {
        if (session.readyState !== WebSocket.OPEN)
          session = await rawSession(server.url, await tokenFor("attacker2"));
        session.send(frame);
        sent += 1;
      }
    }
    // Over maxHttpBufferSize, over websocket: the server closes that connection (1009).
    const big = await rawSession(server.url, await tokenFor("attacker3"));
    const closeCode = new Promise<number>((resolve) => big.once("close", (code) => resolve(code)));
    big.send(`42${JSON.stringify(["chat:send", { roomId: "team:a", text: "x".repeat(200 * 1024) }])}`);
    expect(await closeCode).toBe(1009);
    // Over maxHttpBufferSize, over polling: refused without harm.
    const handshake = await (await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`)).text();
    const sid = JSON.parse(handshake.slice(1)).sid as string;
    const post = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: "POST",
      body: `40${JSON.stringify({ token: "x" })}\x1e42${"x".repeat(200 * 1024)}`,
    });
    expect(post.status).toBe(413);
    expect(sent).toBeGreaterThan(2000);

    // The process is up, the bystander was never dropped and still gets answers.
    expect(server.exitCode).toBeNull();
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect(bystanderDropped).toBe(false);
    const res = await request(bystander, "auth:refresh", { token: await tokenFor("bystander") });
    expect(res.ok).toBe(true);
    // No handler failure escaped as INTERNAL: every bad input got a typed refusal.
    expect(server.lines.filter((l) => l.msg === "handler failed")).toEqual([]);
    expect(server.lines.filter((l) => l.level === "fatal")).toEqual([]);

    attacker.terminate();
    session.terminate();
    // Memory returns to its level once the attackers are gone (generous: GC timing varies).
    await eventually(async () => (await heapUsed()) < heapBefore + 32 * 1024 * 1024, 10_000, 250);
  });
});

describe("prototype pollution", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    closeAllClients();
    await t.close();
  });

  it("leaves Object.prototype untouched by __proto__ and constructor keys in payloads", async () => {
    const ws = await rawSession(t.url, await tokenFor("polluter", { rooms: ["team:*"] }));
    const frames = [
      '42["chat:join",{"__proto__":{"polluted":"yes"},"roomId":"team:a"}]',
      '42["chat:send",{"roomId":"team:a","text":"hi","__proto__":{"polluted":"yes"}}]',
      '42["presence:set",{"status":"online","constructor":{"prototype":{"polluted":"yes"}}}]',
      '42["notification:read",{"ids":["a"],"__proto__":{"isAdmin":true}}]',
      '42["__proto__",{"polluted":"yes"}]',
      '42["constructor",{"prototype":{"polluted":"yes"}}]',
    ];
    for (const frame of frames) ws.send(frame);
    const probe = await connected(t.url, await tokenFor("probe"));
    await request(probe, "auth:refresh", { token: await tokenFor("probe") });
    const plain: Record<string, unknown> = {};
    expect(plain.polluted).toBeUndefined();
    expect(plain.isAdmin).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
    ws.terminate();
  });
});
