/**
 * The typed client SDK: `connect({ url, getToken })`. Framework-free, for browsers and
 * Node; it shares the wire contract with the server (src/protocol, through ./protocol.ts)
 * and nothing else. The contract's types are exported too, for typing a raw socket.io-client
 * socket: `io<ServerToClientEvents, ClientToServerEvents>(url)`.
 */

export { connect } from "./client.js";
export { type ClientErrorCode, ClientErrorCodes, isRealtimeError, RealtimeError } from "./errors.js";
export { compareMessageIds, createClientMsgId } from "./ids.js";
export type {
  AckData,
  AckResponse,
  ChangeKind,
  ChatChangeResult,
  ChatHistoryResult,
  ChatJoinResult,
  ChatRoomActivity,
  ChatRoomsResult,
  ClientEventName,
  ClientToServerEvents,
  ErrorBody,
  ErrorCode,
  EventPayload,
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
} from "./protocol.js";
export { MODEL_MESSAGES_PER_ROOM } from "./room-model.js";
export type {
  ChatApi,
  ConnectionStatus,
  ConnectOptions,
  GapEvent,
  JoinOptions,
  NotificationsApi,
  PresenceApi,
  RealtimeClient,
  RealtimeEvents,
  RejoinEvent,
  RoomToken,
  SettableStatus,
  StatusEvent,
} from "./types.js";
