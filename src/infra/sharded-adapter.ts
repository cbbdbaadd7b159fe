import type { Namespace } from "socket.io";
import { Adapter, type BroadcastOptions, MessageType } from "socket.io-adapter";
import { isAdapterRoom } from "../protocol/index.js";
import type { RedisConnections } from "./redis.js";

export type AdapterFactory = (nsp: Namespace) => Adapter;

interface ShardedInternals {
  publishAndReturnOffset(message: { type: MessageType; data: unknown }): Promise<string>;
  shouldUseASeparateNamespace(room: string): boolean;
  dynamicChannel(room: string): string;
}

/**
 * Three changes to the sharded adapter (a ClusterAdapter):
 *
 * - Only the rooms whose broadcasts cross instances through the adapter (`isAdapterRoom`)
 *   get a channel subscription: chat rooms are relayed from their own feed.
 *
 * - It delivers a broadcast to this instance's own sockets only after Redis has accepted
 *   the publish: one more round trip on every message, and, while Redis is down, local
 *   delivery frozen behind the publish queue. Here local delivery happens at once and the
 *   publish is not awaited, as with the classic adapter. (The offset it skips only serves
 *   Socket.IO's connection state recovery, which this service does not use.)
 * - It subscribes to a room's channel when the room first appears here, without waiting:
 *   a message published before Redis has the subscription never arrives, so a chat join
 *   that reads history in that window would leave a silent gap. Here `socket.join()`
 *   returns a promise that settles once Redis has confirmed the subscription: the reply to
 *   the adapter's own SSUBSCRIBE, whose promise the adapter drops (caught here as it is
 *   sent, during `addAll`), or, when it cannot be caught, SSUBSCRIBE again on the same
 *   connection, whose reply comes after the adapter's own. Every connection joins its user
 *   room, so this is one command and one write fewer per handshake.
 */
export function withShardedOrdering(
  make: AdapterFactory,
  sub: RedisConnections["sub"],
  onError: (err: Error, what: string) => void,
  subscribeTimeoutMs = 2000,
): AdapterFactory {
  // Socket.IO calls the factory with `new`: it must be a function, not an arrow.
  return function shardedWithOrdering(nsp: Namespace) {
    const adapter = make(nsp);
    const internals = adapter as unknown as ShardedInternals;
    const publish = internals.publishAndReturnOffset.bind(adapter);
    const separate = internals.shouldUseASeparateNamespace.bind(adapter);
    internals.shouldUseASeparateNamespace = (room) => isAdapterRoom(room) && separate(room);
    adapter.broadcast = (packet: unknown, opts: BroadcastOptions) => {
      if (!opts.flags?.local) {
        publish({
          type: MessageType.BROADCAST,
          data: {
            packet,
            opts: { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags },
          },
        }).catch((err: Error) => onError(err, "publish"));
      }
      Adapter.prototype.broadcast.call(adapter, packet, opts);
    };

    // The adapter's own SSUBSCRIBE of a new room, sent synchronously inside addAll.
    const own = new Map<string, Promise<unknown>>();
    let capturing = false;
    const client = sub as unknown as { ssubscribe(...args: unknown[]): Promise<unknown> };
    const ssubscribe = client.ssubscribe;
    client.ssubscribe = function (this: unknown, ...args: unknown[]) {
      const reply = ssubscribe.apply(this, args);
      if (capturing && typeof args[0] === "string") own.set(args[0], reply);
      return reply;
    };

    const pending = new Map<string, Promise<void>>();
    const confirm = (room: string): Promise<void> => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        // During an outage the subscription waits for Redis; the join must not.
        timer = setTimeout(resolve, subscribeTimeoutMs);
      });
      const channel = internals.dynamicChannel(room);
      const subscribed = own.get(channel) ?? (sub.ssubscribe(channel) as Promise<unknown>);
      own.delete(channel);
      const confirmed = subscribed.then(
        () => undefined,
        (err: Error) => onError(err, "subscribe"),
      );
      const done = Promise.race([confirmed, timeout]).finally(() => {
        clearTimeout(timer);
        pending.delete(room);
      });
      pending.set(room, done);
      return done;
    };
    const addAll = adapter.addAll.bind(adapter);
    adapter.addAll = (id, rooms) => {
      const fresh = [...rooms].filter(
        (room) => !adapter.rooms.has(room) && internals.shouldUseASeparateNamespace(room),
      );
      capturing = fresh.length > 0;
      try {
        addAll(id, rooms);
      } finally {
        capturing = false;
      }
      const waits = [...rooms].flatMap((room) => {
        const wait = fresh.includes(room) ? confirm(room) : pending.get(room);
        return wait ? [wait] : [];
      });
      return waits.length > 0 ? Promise.all(waits).then(() => undefined) : undefined;
    };
    return adapter;
  };
}
