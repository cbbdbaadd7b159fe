import { compareMessageIds } from "../../src/protocol/index.js";
import { tokenFor } from "../../test/helpers/tokens.js";
import type { ClientLink } from "./client-link.js";
import { type ArrivalAnomaly, type ReceiverRecord, RoomView } from "./view.js";
import {
  ask,
  type CheckSocket,
  openSocket,
  sleep,
  type WireJoinPayload,
  type WireJoinResult,
  type WireMessage,
} from "./wire.js";

interface RoomState {
  view: RoomView;
  /** The last message received: the cursor. */
  held: WireMessage | undefined;
  /** A join is under way: live messages wait for its answer. */
  joining: boolean;
  waiting: WireMessage[];
}

/** `m` comes after the cursor: by `seq` within one epoch, by id where the server sends no seq. */
function isAfter(m: WireMessage, held: WireMessage): boolean {
  if (m.seq !== undefined && held.seq !== undefined) return m.seq > held.seq;
  return compareMessageIds(m.id, held.id) > 0;
}

function epochChanged(m: WireMessage, held: WireMessage | undefined): boolean {
  return held?.epoch !== undefined && m.epoch !== undefined && m.epoch !== held.epoch;
}

/** The README's recovery cursor: `sinceSeq` + `epoch` of the last message, or its id without a seq. */
function joinPayload(roomId: string, held: WireMessage | undefined): WireJoinPayload {
  if (!held) return { roomId };
  if (held.seq !== undefined && held.epoch !== undefined)
    return { roomId, sinceSeq: held.seq, epoch: held.epoch };
  return { roomId, since: held.id };
}

/**
 * A plain socket.io-client that follows only the README's rule for raw clients: keep
 * the last message received per room; on every connect join with it as the cursor; apply
 * the answer's messages; join again while `live` is false; `recovered: false` is a gap;
 * drop a message that is not after the one held; a new epoch is a gap, then join without
 * a cursor. Live messages that arrive while a join is unanswered are applied after its
 * answer, under the same rule ("live" starts with the answer).
 */
export class RawReceiver {
  readonly record: ReceiverRecord;
  private readonly rooms = new Map<string, RoomState>();
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
      this.rooms.set(roomId, { view, held: undefined, joining: false, waiting: [] });
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
      for (const roomId of this.rooms.keys()) void this.join(roomId, id);
    });
    socket.on("chat:message", (message: WireMessage) => {
      const room = this.rooms.get(message.roomId);
      if (room) this.receive(message.roomId, room, message);
    });
  }

  /** Connected, and every room's last join answered live. */
  get joined(): boolean {
    return this.socket.connected && [...this.rooms.values()].every((room) => !room.joining);
  }

  private receive(roomId: string, room: RoomState, message: WireMessage): void {
    if (room.joining) room.waiting.push(message);
    else this.onLive(roomId, room, message);
  }

  private async join(roomId: string, socketId: string | undefined): Promise<void> {
    const room = this.rooms.get(roomId) as RoomState;
    room.joining = true;
    while (this.socket.connected && this.socket.id === socketId) {
      const payload = joinPayload(roomId, room.held);
      const res = await ask<WireJoinResult>(this.socket, "chat:join", payload);
      if (!res.ok) {
        await sleep(res.error.code === "DISCONNECTED" ? 0 : 200);
        continue;
      }
      if (payload.sinceSeq !== undefined || payload.since !== undefined) {
        if (res.data.recovered === false) {
          this.record.notRecovered += 1;
          room.view.gap("recovered:false");
          room.held = undefined;
        }
      }
      for (const message of res.data.messages) this.apply(room, message, false);
      if (res.data.live === false) continue;
      room.joining = false;
      for (const message of room.waiting.splice(0)) this.receive(roomId, room, message);
      return;
    }
    // The connection dropped: the next connect joins again, from the same cursor.
  }

  private onLive(roomId: string, room: RoomState, message: WireMessage): void {
    if (epochChanged(message, room.held)) {
      room.view.gap("epoch");
      room.held = undefined;
      void this.join(roomId, this.socket.id);
      room.waiting.push(message);
      return;
    }
    this.apply(room, message, true);
  }

  private apply(room: RoomState, message: WireMessage, live: boolean): void {
    if (room.held && !isAfter(message, room.held)) {
      if (live && !room.view.handed.has(message.id)) this.anomaly(room, message, room.held);
      return;
    }
    room.view.hand(message);
    room.held = message;
  }

  private anomaly(room: RoomState, message: WireMessage, held: WireMessage): void {
    const anomaly: ArrivalAnomaly = {
      roomId: room.view.roomId,
      id: message.id,
      after: held.id,
      at: Date.now(),
    };
    this.record.anomalies.push(anomaly);
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
