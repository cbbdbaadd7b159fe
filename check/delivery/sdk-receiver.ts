import { connect, type RealtimeClient } from "../../src/client/index.js";
import { tokenFor } from "../../test/helpers/tokens.js";
import type { ClientLink } from "./client-link.js";
import { type ReceiverRecord, RoomView } from "./view.js";
import { RECONNECT, sleep, type WireMessage } from "./wire.js";

/** The SDK's report of a gap it could not fill (the per-room sequence contract). */
export interface GapEvent {
  roomId: string;
  epoch: string;
  reason: "epoch" | "trimmed";
  fromSeq?: number;
}

/**
 * `client.on("gap", …)`, typed here until the SDK's own event map has the event: the
 * SDK's emitter takes any name at run time, so this subscribes whether or not it exists.
 */
function onGap(client: RealtimeClient, listener: (event: GapEvent) => void): void {
  (client.on as unknown as (event: string, listener: (event: GapEvent) => void) => void)("gap", listener);
}

/**
 * An application on the client SDK (`connect` from src/client): it joins its rooms once
 * and from then on records exactly what the SDK hands it (`message`, `gap`), trusting the
 * SDK with reconnects, rejoins and deduplication.
 */
export class SdkReceiver {
  readonly record: ReceiverRecord;
  private client!: RealtimeClient;
  private connects = 0;
  private joinedRooms = 0;

  private constructor(
    name: string,
    userId: string,
    private readonly roomIds: string[],
    private readonly link: ClientLink,
  ) {
    this.record = {
      name,
      kind: "sdk",
      userId,
      views: new Map(roomIds.map((roomId) => [roomId, new RoomView(roomId)])),
      anomalies: [],
      reconnects: 0,
      notRecovered: 0,
    };
  }

  static async open(name: string, userId: string, roomIds: string[], link: ClientLink): Promise<SdkReceiver> {
    const receiver = new SdkReceiver(name, userId, roomIds, link);
    const token = await tokenFor(userId, { rooms: roomIds }, { expiresIn: "12h" });
    receiver.start(token);
    return receiver;
  }

  private start(token: string): void {
    const client = connect({
      url: this.link.url,
      getToken: () => token,
      reconnectDelayMs: RECONNECT.reconnectionDelay,
      reconnectDelayMaxMs: RECONNECT.reconnectionDelayMax,
      sendTimeoutMs: 120_000,
    });
    this.client = client;
    const views = this.record.views;
    client.on("message", (message: WireMessage) => views.get(message.roomId)?.hand(message));
    onGap(client, (event) => views.get(event.roomId)?.gap(`gap:${event.reason}`));
    client.on("rejoin", (event) => {
      if (!event.recovered) this.record.notRecovered += 1;
    });
    client.on("status", ({ status }) => {
      if (status !== "connected") return;
      this.connects += 1;
      this.record.reconnects = this.connects - 1;
    });
    void this.joinAll();
  }

  /** The first join's page is empty: receivers join before anything is sent. */
  private async joinAll(): Promise<void> {
    for (const roomId of this.roomIds) {
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          await this.client.chat.join(roomId);
          this.joinedRooms += 1;
          break;
        } catch {
          await sleep(250);
        }
      }
    }
  }

  /** Every room joined once (afterwards the SDK keeps them joined by itself). */
  get joined(): boolean {
    return this.joinedRooms === this.roomIds.length && this.client.status === "connected";
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
    this.client.close();
  }
}
