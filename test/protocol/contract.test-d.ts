import type { Socket } from "socket.io-client";
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import type { RequestFn } from "../../packages/client/src/requests.js";
import type {
  ChatApi,
  NotificationsApi,
  PresenceApi,
  RealtimeEvents,
  SettableStatus,
} from "../../packages/client/src/types.js";
import type { EventRouter } from "../../src/infra/event-router.js";
import type {
  Ack,
  AckData,
  AckResponse,
  ChatJoinResult,
  ChatSendPayload,
  ClientEventName,
  ClientToServerEvents,
  EventPayload,
  Message,
  NotificationListPayload,
  ParsedPayload,
  PresenceState,
  ServerEventPayload,
  ServerToClientEvents,
} from "../../src/protocol/index.js";
import { CLIENT_EVENT_NAMES, type clientEvents } from "../../src/protocol/index.js";
import { ok, request } from "../helpers/client.js";

/**
 * The wire contract at the type level, checked by `npm run typecheck` (vitest does not run
 * this file): one map (`clientEvents`) decides every event's payload and ack data, and the
 * router, the Socket.IO event maps, the SDK and the test helper cannot disagree with it.
 */

declare const router: EventRouter;
declare const message: Message;
declare const sdkRequest: RequestFn;

describe("a route of the event router", () => {
  it("receives the payload the event's schema parses", () => {
    router.on("chat:send", {
      handle(payload) {
        expectTypeOf(payload).toEqualTypeOf<ChatSendPayload>();
        return message;
      },
    });
    router.on("notification:list", {
      handle(payload) {
        // After parsing: the schema's default has replaced a missing payload.
        expectTypeOf(payload).toEqualTypeOf<NonNullable<NotificationListPayload>>();
        return { items: [], unreadCount: 0, hasMore: false };
      },
    });
  });

  it("must resolve with the event's ack data", () => {
    router.on("chat:leave", { handle: async ({ roomId }) => ({ roomId }) });
    // @ts-expect-error chat:send answers with the stored message, not with the room id
    router.on("chat:send", { handle: ({ roomId }) => ({ roomId }) });
    // @ts-expect-error notification:read answers { unreadCount }, not a count alone
    router.on("notification:read", { handle: async () => 3 });
  });

  it("cannot bring a schema of its own", () => {
    router.on("chat:typing", {
      // @ts-expect-error the schema is the contract's
      schema: z.object({ roomId: z.string(), typing: z.boolean() }),
      handle: ({ roomId }) => ({ roomId }),
    });
  });

  it("exists only for an event of the contract", () => {
    // @ts-expect-error chat:edit is not in the contract
    router.on("chat:edit", { handle: () => ({}) });
  });

  it("cannot read a field the event's payload lacks", () => {
    // @ts-expect-error chat:leave's payload holds only the room id
    router.on("chat:leave", { handle: ({ roomId, text }) => ({ roomId: roomId + text }) });
  });
});

describe("what derives from the map", () => {
  it("names every event of the map, and only those", () => {
    expectTypeOf<ClientEventName>().toEqualTypeOf<keyof typeof clientEvents>();
    expectTypeOf(CLIENT_EVENT_NAMES).toEqualTypeOf<readonly ClientEventName[]>();
  });

  it("types the Socket.IO client→server map with the payload sent and an optional ack of the event's data", () => {
    expectTypeOf<keyof ClientToServerEvents>().toEqualTypeOf<ClientEventName>();
    expectTypeOf<Parameters<ClientToServerEvents["chat:join"]>>().toEqualTypeOf<
      [payload: EventPayload<"chat:join">, ack?: Ack<ChatJoinResult>]
    >();
    // What the client sends is the schema's input: notification:list may omit its payload.
    expectTypeOf<undefined>().toExtend<EventPayload<"notification:list">>();
    expectTypeOf<undefined>().not.toExtend<ParsedPayload<"notification:list">>();
    expectTypeOf<AckData<"presence:query">>().toEqualTypeOf<PresenceState[]>();
    expectTypeOf<AckData<"auth:refresh">>().toEqualTypeOf<{ exp: number; leftRooms: string[] }>();
  });

  it("types socket.io-client's emit from the same map", () => {
    const socket = {} as Socket<ServerToClientEvents, ClientToServerEvents>;
    socket.emit("chat:send", { roomId: "team:a", text: "hi" }, (response) => {
      expectTypeOf(response).toEqualTypeOf<AckResponse<Message>>();
    });
    // @ts-expect-error chat:send needs its text
    socket.emit("chat:send", { roomId: "team:a" });
  });

  it("gives the SDK's requests the event's payload and ack data", () => {
    expectTypeOf(sdkRequest<"chat:read">).parameters.toEqualTypeOf<
      [event: "chat:read", payload: EventPayload<"chat:read">, timeoutMs?: number]
    >();
    expectTypeOf(sdkRequest<"chat:read">).returns.toEqualTypeOf<Promise<AckData<"chat:read">>>();
    expectTypeOf<ReturnType<ChatApi["join"]>>().toEqualTypeOf<Promise<AckData<"chat:join">>>();
    expectTypeOf<ReturnType<ChatApi["send"]>>().toEqualTypeOf<Promise<AckData<"chat:send">>>();
    expectTypeOf<ReturnType<ChatApi["read"]>>().toEqualTypeOf<Promise<AckData<"chat:read">>>();
    expectTypeOf<ReturnType<ChatApi["history"]>>().toEqualTypeOf<Promise<AckData<"chat:history">>>();
    expectTypeOf<ReturnType<PresenceApi["set"]>>().toEqualTypeOf<Promise<AckData<"presence:set">>>();
    expectTypeOf<ReturnType<PresenceApi["subscribe"]>>().toEqualTypeOf<
      Promise<AckData<"presence:subscribe">>
    >();
    expectTypeOf<ReturnType<NotificationsApi["list"]>>().toEqualTypeOf<
      Promise<AckData<"notification:list">>
    >();
    expectTypeOf<ReturnType<NotificationsApi["read"]>>().toEqualTypeOf<
      Promise<AckData<"notification:read">>
    >();
    expectTypeOf<SettableStatus>().toEqualTypeOf<"online" | "away" | "busy">();
  });

  it("hands the SDK's app the server's event payloads as they are", () => {
    expectTypeOf<Parameters<RealtimeEvents["typing"]>[0]>().toEqualTypeOf<
      ServerEventPayload<"chat:typing">
    >();
    expectTypeOf<Parameters<RealtimeEvents["member"]>[0]>().toEqualTypeOf<
      ServerEventPayload<"chat:member">
    >();
    expectTypeOf<Parameters<RealtimeEvents["unread"]>[0]>().toEqualTypeOf<
      ServerEventPayload<"notification:unread">
    >();
  });

  it("gives the test helper's requests the event's payload and ack data", () => {
    expectTypeOf(ok<"chat:history">).returns.toEqualTypeOf<Promise<AckData<"chat:history">>>();
    expectTypeOf(ok<"chat:history">)
      .parameter(2)
      .toEqualTypeOf<EventPayload<"chat:history">>();
    expectTypeOf(request<"chat:join">)
      .parameter(2)
      .toEqualTypeOf<EventPayload<"chat:join">>();
    expectTypeOf(request<"chat:join">).returns.toEqualTypeOf<Promise<AckResponse<AckData<"chat:join">>>>();
  });
});
