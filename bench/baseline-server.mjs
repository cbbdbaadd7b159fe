// The performance to beat: what a team would write by hand with Socket.IO and the
// classic Redis adapter. It joins rooms, broadcasts `chat:send` to the room and pushes
// notifications over HTTP, with the same event names and payload shapes as the service
// so the same load client drives both, and none of the service's work: no auth check,
// no validation, no rate limit, no persistence.
// Plain JavaScript, run by bare `node`, so no loader inflates its memory figures.
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

const env = process.env;
const port = Number(env.PORT ?? 0);
const host = env.HOST ?? "127.0.0.1";
const apiKey = env.INTERNAL_API_KEY ?? "";
const maxBody = 256 * 1024;

const notify = (req, res, io) => {
  if (req.headers.authorization !== `Bearer ${apiKey}`) {
    res.writeHead(401).end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > maxBody) req.destroy();
    else chunks.push(chunk);
  });
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      res.writeHead(400).end();
      return;
    }
    const userIds = Array.isArray(body?.userIds) ? body.userIds.filter((u) => typeof u === "string") : [];
    const createdAt = Date.now();
    // One broadcast to every addressed user room: the cheapest way to write it by hand.
    io.to(userIds.map((u) => `user:${u}`)).emit("notification:new", {
      id: `${createdAt}-${seq++}`,
      type: String(body.type ?? ""),
      title: String(body.title ?? ""),
      createdAt,
      readAt: null,
    });
    res.writeHead(202, { "content-type": "application/json" }).end(`{"accepted":${userIds.length}}`);
  });
};

let seq = 0;
let io;
const httpServer = createServer((req, res) => {
  if (req.method === "POST" && req.url === "/notify") notify(req, res, io);
  else if (req.method === "GET" && req.url === "/health") res.writeHead(200).end("ok");
  else res.writeHead(404).end();
});

// The options that matter for the comparison mirror src/infra/socket-server.ts.
io = new Server(httpServer, {
  path: "/socket.io",
  transports: ["polling", "websocket"],
  maxHttpBufferSize: Number(env.SOCKET_MAX_HTTP_BUFFER_SIZE ?? 64 * 1024),
  pingInterval: Number(env.PING_INTERVAL_MS ?? 25_000),
  pingTimeout: Number(env.PING_TIMEOUT_MS ?? 20_000),
  connectTimeout: 10_000,
  serveClient: false,
});

const clients = [];
if (env.REDIS_URL) {
  const pub = new Redis(env.REDIS_URL);
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on("error", () => {});
  clients.push(pub, sub);
  io.adapter(createAdapter(pub, sub));
}

io.on("connection", (socket) => {
  const userId = typeof socket.handshake.auth?.userId === "string" ? socket.handshake.auth.userId : socket.id;
  socket.join(`user:${userId}`);
  socket.on("chat:join", (payload, ack) => {
    if (typeof payload?.roomId !== "string") return;
    socket.join(payload.roomId);
    if (typeof ack === "function") ack({ ok: true, data: { roomId: payload.roomId, messages: [] } });
  });
  socket.on("chat:send", (payload, ack) => {
    if (typeof payload?.roomId !== "string" || typeof payload.text !== "string") return;
    const createdAt = Date.now();
    const message = {
      id: `${createdAt}-${seq++}`,
      roomId: payload.roomId,
      senderId: userId,
      text: payload.text,
      createdAt,
    };
    io.to(payload.roomId).emit("chat:message", message);
    if (typeof ack === "function") ack({ ok: true, data: message });
  });
});

const stop = () => {
  io.close();
  for (const c of clients) c.disconnect();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

httpServer.listen(port, host, () => {
  const address = httpServer.address();
  process.stdout.write(`${JSON.stringify({ msg: "listening", port: address.port })}\n`);
});
