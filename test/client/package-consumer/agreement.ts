// The package's copy of the wire contract against the server's own (src/protocol, which the
// test's tsconfig maps "#server-protocol" to): a compile error when any event, payload, ack
// data, server event or error code differs.

import type * as pkg from "@realtime-socket-server/client";
import type * as server from "#server-protocol";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type All<T> = false extends T[keyof T] ? false : true;

export const eventNames: Equal<pkg.ClientEventName, server.ClientEventName> = true;
export const payloads: All<{
  [E in pkg.ClientEventName]: Equal<pkg.EventPayload<E>, server.EventPayload<E>>;
}> = true;
export const acks: All<{ [E in pkg.ClientEventName]: Equal<pkg.AckData<E>, server.AckData<E>> }> = true;
export const clientEvents: Equal<pkg.ClientToServerEvents, server.ClientToServerEvents> = true;
export const serverEvents: Equal<pkg.ServerToClientEvents, server.ServerToClientEvents> = true;
export const errorCodes: Equal<pkg.ErrorCode, server.ErrorCode> = true;
export const errorBody: Equal<pkg.ErrorBody, server.ErrorBody> = true;
