import { connect, type RealtimeClient } from "../../packages/client/src/index.js";
import { tokenFor } from "../../test/helpers/tokens.js";
import type { ClientLink } from "./client-link.js";
import { type ReceiverRecord, RoomView } from "./view.js";
import { RECONNECT, sleep, type WireMessage } from "./wire.js";

/**
 * An application on the client SDK (`connect` from packages/client): it joins its rooms once
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
    client.on("gap", (event) => views.get(event.roomId)?.gap(`gap:${event.reason}`));
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

  /** The SDK's model of each room: its messages with edits, deletes and reactions applied. */
  models(): Map<string, WireMessage[]> {
    return new Map(this.roomIds.map((roomId) => [roomId, this.client.chat.messages(roomId)]));
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
