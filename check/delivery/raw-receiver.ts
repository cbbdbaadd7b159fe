import { tokenFor } from "../../test/helpers/tokens.js";
import type { ClientLink } from "./client-link.js";
import { RawRoomRule } from "./raw-rule.js";
import { type ReceiverRecord, RoomView } from "./view.js";
import { ask, type CheckSocket, openSocket, sleep, type WireJoinResult, type WireMessage } from "./wire.js";

/**
 * A plain socket.io-client that follows only the README's rule for raw clients
 * (RawRoomRule, one per room) on every connect, and records what it applied.
 */
export class RawReceiver {
  readonly record: ReceiverRecord;
  private readonly rules = new Map<string, RawRoomRule>();
  private socket!: CheckSocket;
  private connects = 0;

  private constructor(
    name: string,
    userId: string,
    roomIds: string[],
    private readonly link: ClientLink,
  ) {
    this.record = {
      name,
      kind: "raw",
      userId,
      views: new Map(),
      anomalies: [],
      reconnects: 0,
      notRecovered: 0,
    };
    for (const roomId of roomIds) {
      const view = new RoomView(roomId);
      this.record.views.set(roomId, view);
      this.rules.set(roomId, new RawRoomRule(view, this.record.anomalies));
    }
  }

  static async open(name: string, userId: string, roomIds: string[], link: ClientLink): Promise<RawReceiver> {
    const receiver = new RawReceiver(name, userId, roomIds, link);
    const token = await tokenFor(userId, { rooms: roomIds }, { expiresIn: "12h" });
    receiver.socket = openSocket(link.url, token);
    receiver.listen();
    return receiver;
  }

  private listen(): void {
    const socket = this.socket;
    socket.on("connect", () => {
      this.connects += 1;
      this.record.reconnects = this.connects - 1;
      const id = socket.id;
      for (const rule of this.rules.values()) void this.join(rule, id);
    });
    socket.on("chat:message", (message: WireMessage) => {
      const rule = this.rules.get(message.roomId);
      if (rule?.onMessage(message) === "rejoin") void this.join(rule, socket.id);
    });
  }

  /** Connected, and every room's last join answered live. */
  get joined(): boolean {
    return this.socket.connected && [...this.rules.values()].every((rule) => !rule.joining);
  }

  /** Joins until an answer says live, on this connection only (the next connect starts over). */
  private async join(rule: RawRoomRule, socketId: string | undefined): Promise<void> {
    rule.joining = true;
    while (this.socket.connected && this.socket.id === socketId) {
      const payload = rule.joinPayload();
      const res = await ask<WireJoinResult>(this.socket, "chat:join", payload);
      if (!res.ok) {
        await sleep(res.error.code === "DISCONNECTED" ? 0 : 200);
        continue;
      }
      const next = rule.onAnswer(payload, res.data);
      this.record.notRecovered = [...this.rules.values()].reduce((n, r) => n + r.notRecovered, 0);
      if (next === "live") return;
    }
  }

  get userId(): string {
    return this.record.userId;
  }

  get name(): string {
    return this.record.name;
  }

  get clientLink(): ClientLink {
    return this.link;
  }

  close(): void {
    this.socket.disconnect();
  }
}
