/**
 * The wire contract as the SDK sees it: the one module of the package that reads the server's
 * `src/protocol`, so the server and the SDK cannot disagree on an event. Everything else in the
 * package imports the contract from here.
 *
 * The package carries its own copy of these types (scripts/build.mjs): the declarations of
 * `src/protocol`'s plain type files are copied into it, and the client events' payloads, which
 * the server derives from its zod schemas, are written out below as plain types, so installing
 * the package brings neither zod nor any server file.
 */
import type {
  AckData as ContractAckData,
  ClientEventName as ContractEventName,
  EventPayload as ContractPayload,
} from "../../../src/protocol/contract.js";
import type { Ack } from "../../../src/protocol/events.js";

export type { ErrorBody, ErrorCode } from "../../../src/protocol/errors.js";
export type {
  Ack,
  AckResponse,
  ChangeKind,
  ChatChangeResult,
  ChatHistoryResult,
  ChatJoinResult,
  ChatRoomActivity,
  ChatRoomsResult,
  Message,
  Notification,
  NotificationListResult,
  PresenceState,
  PresenceStatus,
  ReactionCount,
  RoomListEntry,
  ServerEventName,
  ServerEventPayload,
  ServerToClientEvents,
  SettableStatus,
} from "../../../src/protocol/events.js";
export { compareMessageIds } from "../../../src/protocol/message-id.js";

/**
 * Stands for a value of type T. A declaration emit writes the type of a value it infers out in
 * full, where it keeps a type written in the source as it is (`EventPayload<E>`, which needs zod):
 * this is how the payloads' plain types reach the package's `.d.ts`. Dropped from the bundle.
 */
const writtenOut = <T>(): T => undefined as T;

const clientRequests =
  /* @__PURE__ */ writtenOut<{
    [E in ContractEventName]: { payload: ContractPayload<E>; ack: ContractAckData<E> };
  }>();

/** Every client→server event: what the client sends with it and the `data` of its `{ok: true}` ack. */
export type ClientRequests = typeof clientRequests;
export type ClientEventName = keyof ClientRequests;
/** What a client sends with the event (the schema's input: defaults not yet applied). */
export type EventPayload<E extends ClientEventName> = ClientRequests[E]["payload"];
/** The `data` of the event's `{ok: true, data}` ack. */
export type AckData<E extends ClientEventName> = ClientRequests[E]["ack"];
export type ClientToServerEvents = {
  [E in ClientEventName]: (payload: EventPayload<E>, ack?: Ack<AckData<E>>) => void;
};
