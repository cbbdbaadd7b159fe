/**
 * The typed client SDK: `connect({ url, getToken })`. Framework-free, for browsers and
 * Node; it shares the wire contract with the server (src/protocol) and nothing else.
 */

export type { ErrorBody, ErrorCode } from "../protocol/errors.js";
export type {
  AckResponse,
  ChatHistoryResult,
  ChatJoinResult,
  Message,
  Notification,
  NotificationListResult,
  PresenceState,
  PresenceStatus,
} from "../protocol/events.js";
export { connect } from "./client.js";
export { type ClientErrorCode, ClientErrorCodes, isRealtimeError, RealtimeError } from "./errors.js";
export { compareMessageIds, createClientMsgId } from "./ids.js";
export type {
  ChatApi,
  ConnectionStatus,
  ConnectOptions,
  GapEvent,
  NotificationsApi,
  PresenceApi,
  RealtimeClient,
  RealtimeEvents,
  RejoinEvent,
  SettableStatus,
  StatusEvent,
} from "./types.js";
