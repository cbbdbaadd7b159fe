import type { z } from "zod";
import type {
  Ack,
  ChatChangeResult,
  ChatHistoryResult,
  ChatJoinResult,
  ChatRoomsResult,
  Message,
  NotificationListResult,
  PresenceState,
} from "./events.js";
import {
  authRefreshPayload,
  chatDeletePayload,
  chatEditPayload,
  chatHistoryPayload,
  chatJoinPayload,
  chatLeavePayload,
  chatReactPayload,
  chatReadPayload,
  chatRoomsPayload,
  chatSendPayload,
  chatTypingPayload,
  notificationListPayload,
  notificationReadPayload,
  presenceSetPayload,
  presenceUserIdsPayload,
} from "./schemas.js";

/**
 * The type of an event's ack data, held by the contract for the compiler only: the value
 * is an empty marker that nothing reads.
 */
export interface AckType<T> {
  readonly data?: T;
}
const ackOf = <T>(): AckType<T> => ({});

/**
 * Every client→server event: the schema its payload is parsed with and the data its ack
 * carries. The one place an event is declared; the names, `ClientToServerEvents`, the
 * metric labels, the router's handler types and the SDK's request types derive from it,
 * so an event the map lacks cannot be routed, emitted by the SDK or counted.
 */
export const clientEvents = {
  /** `leftRooms`: the chat rooms the socket left because the new token no longer grants them. */
  "auth:refresh": { payload: authRefreshPayload, ack: ackOf<{ exp: number; leftRooms: string[] }>() },

  "chat:join": { payload: chatJoinPayload, ack: ackOf<ChatJoinResult>() },
  "chat:leave": { payload: chatLeavePayload, ack: ackOf<{ roomId: string }>() },
  "chat:send": { payload: chatSendPayload, ack: ackOf<Message>() },
  "chat:edit": { payload: chatEditPayload, ack: ackOf<ChatChangeResult>() },
  "chat:delete": { payload: chatDeletePayload, ack: ackOf<ChatChangeResult>() },
  "chat:react": { payload: chatReactPayload, ack: ackOf<ChatChangeResult>() },
  "chat:history": { payload: chatHistoryPayload, ack: ackOf<ChatHistoryResult>() },
  "chat:rooms": { payload: chatRoomsPayload, ack: ackOf<ChatRoomsResult>() },
  "chat:typing": { payload: chatTypingPayload, ack: ackOf<{ roomId: string }>() },
  "chat:read": { payload: chatReadPayload, ack: ackOf<{ roomId: string; messageId: string }>() },

  "presence:set": { payload: presenceSetPayload, ack: ackOf<PresenceState>() },
  "presence:subscribe": { payload: presenceUserIdsPayload, ack: ackOf<PresenceState[]>() },
  "presence:unsubscribe": { payload: presenceUserIdsPayload, ack: ackOf<{ userIds: string[] }>() },
  "presence:query": { payload: presenceUserIdsPayload, ack: ackOf<PresenceState[]>() },

  "notification:list": { payload: notificationListPayload, ack: ackOf<NotificationListResult>() },
  "notification:read": { payload: notificationReadPayload, ack: ackOf<{ unreadCount: number }>() },
} as const satisfies Record<string, { payload: z.ZodType; ack: AckType<unknown> }>;

type ClientEvents = typeof clientEvents;

export type ClientEventName = keyof ClientEvents;

/** What a client sends with the event (before parsing: defaults not yet applied). */
export type EventPayload<E extends ClientEventName> = z.input<ClientEvents[E]["payload"]>;

/** What a handler receives: the payload as the event's schema parsed it. */
export type ParsedPayload<E extends ClientEventName> = z.output<ClientEvents[E]["payload"]>;

/** The `data` of the event's `{ok: true, data}` ack. */
export type AckData<E extends ClientEventName> = ClientEvents[E]["ack"] extends AckType<infer T> ? T : never;

export type ClientToServerEvents = {
  [E in ClientEventName]: (payload: EventPayload<E>, ack?: Ack<AckData<E>>) => void;
};

/** Every client→server event name, in the map's order: bounded metric labels, documentation checks. */
export const CLIENT_EVENT_NAMES = Object.freeze(Object.keys(clientEvents)) as readonly ClientEventName[];

export const isClientEvent = (event: string): event is ClientEventName => Object.hasOwn(clientEvents, event);
