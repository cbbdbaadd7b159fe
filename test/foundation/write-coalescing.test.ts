import type { Socket as NetSocket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Message } from "../../src/protocol/index.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connected, eventually, record } from "../helpers/client.js";
import { tokenFor } from "../helpers/tokens.js";

/**
 * Packets queued for one client while its previous write is in flight leave in one
 * syscall (the TCP socket is corked around Engine.IO's flush), still one websocket frame
 * each: the client sees exactly what it would without coalescing.
 */
describe("coalesced websocket writes", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp();
  });
  afterEach(() => closeAllClients());
  afterAll(async () => {
    await t.close();
  });

  /** Count the writes reaching the server side of this client's TCP connection. */
  function countWrites(socketId: string): () => number {
    const conn = t.app.io.of("/").sockets.get(socketId)?.conn as unknown as {
      transport: { name: string; socket: { _socket: NetSocket } };
    };
    expect(conn.transport.name).toBe("websocket");
    const tcp = conn.transport.socket._socket as NetSocket & {
      _write: (...args: unknown[]) => void;
      _writev: (...args: unknown[]) => void;
    };
    let writes = 0;
    const write = tcp._write.bind(tcp);
    const writev = tcp._writev.bind(tcp);
    tcp._write = (...args) => {
      writes++;
      write(...args);
    };
    tcp._writev = (...args) => {
      writes++;
      writev(...args);
    };
    return () => writes;
  }

  const burst = (n: number): Message[] =>
    Array.from({ length: n }, (_, i) => ({
      id: `${1000 + i}-${i + 1}`,
      roomId: "team:burst",
      seq: i + 1,
      epoch: "e1",
      senderId: "system",
      text: `m${i}`,
      createdAt: Date.now(),
    }));

  for (const transports of [["websocket"], ["polling", "websocket"]] as const) {
    it(`delivers a burst to one client complete and in order, in a few writes (${transports.join(" then ")})`, async () => {
      const client = await connected(t.url, await tokenFor("alice"), { transports: [...transports] });
      if (transports.length > 1) {
        // The coalescing transport must also be the one an upgrade switches to.
        await eventually(() => client.io.engine.transport.name === "websocket");
        await eventually(
          () => t.app.io.of("/").sockets.get(client.id ?? "")?.conn.transport.name === "websocket",
        );
      }
      const received = record(client, "chat:message");
      const writes = countWrites(client.id ?? "");
      const server = t.app.io.of("/").sockets.get(client.id ?? "");
      const messages = burst(200);
      // Emitted in one tick: the first packet is written at once, the rest queue behind it.
      for (const m of messages) server?.emit("chat:message", m);
      await eventually(() => received.length === messages.length);
      expect(received).toEqual(messages);
      // Uncoalesced, that is one write per packet (200).
      expect(writes()).toBeLessThanOrEqual(5);
    });
  }
});
