import { decode } from "notepack.io";
import type { BroadcastFlags } from "socket.io-adapter";
import type { Logger } from "./logger.js";
import type { RedisConnections } from "./redis.js";
import type { AppServer } from "./socket-server.js";

/**
 * `@socket.io/redis-emitter` PUBLISHes on classic pub/sub channels, which the sharded
 * adapter (SSUBSCRIBE, picked by REDIS_ADAPTER=auto on Redis 7) never hears: every
 * message a backend emitted was lost. With the sharded adapter each instance therefore
 * also subscribes to the emitter's classic channels and applies what arrives to its own
 * sockets only (every instance receives the same message; the classic adapter needs none
 * of this, it listens there itself).
 *
 * Supported, as with the classic adapter: `emit` (with `to`/`in`/`except`/`volatile`/
 * `compress`) and `disconnectSockets`. Not applied: `socketsJoin`/`socketsLeave` (they
 * would put sockets in rooms past the chat service's access checks and membership) and
 * `serverSideEmit` (nothing here listens to server-side events).
 */

/** Socket.IO packet types an emitter broadcast may carry (EVENT, BINARY_EVENT). */
const EVENT_PACKETS = new Set([2, 5]);
/** The emitter's request type for `disconnectSockets` (its RequestType.REMOTE_DISCONNECT). */
const REMOTE_DISCONNECT = 4;
const NAMESPACE = "/";

interface Targets {
  rooms: Set<string>;
  except: Set<string>;
}

const strings = (value: unknown): string[] | undefined =>
  Array.isArray(value) && value.every((v) => typeof v === "string") ? (value as string[]) : undefined;

function targetsOf(opts: unknown): Targets | undefined {
  if (typeof opts !== "object" || opts === null) return undefined;
  const { rooms, except } = opts as { rooms?: unknown; except?: unknown };
  const roomList = strings(rooms ?? []);
  const exceptList = strings(except ?? []);
  return roomList && exceptList ? { rooms: new Set(roomList), except: new Set(exceptList) } : undefined;
}

/** `[uid, packet, opts]`, msgpack-encoded by the emitter's default parser. */
function parseBroadcast(
  message: Buffer,
): { packet: { type: number; nsp: string }; targets: Targets; flags: BroadcastFlags } | undefined {
  const decoded: unknown = decode(message);
  if (!Array.isArray(decoded) || decoded.length !== 3) return undefined;
  const [, packet, opts] = decoded as [unknown, { type?: unknown; nsp?: unknown; data?: unknown }, unknown];
  if (typeof packet !== "object" || packet === null) return undefined;
  if (!EVENT_PACKETS.has(packet.type as number) || packet.nsp !== NAMESPACE || !Array.isArray(packet.data)) {
    return undefined;
  }
  const targets = targetsOf(opts);
  if (!targets) return undefined;
  const { volatile, compress } = ((opts as { flags?: BroadcastFlags }).flags ?? {}) as BroadcastFlags;
  return {
    packet: packet as { type: number; nsp: string },
    targets,
    flags: { ...(volatile ? { volatile: true } : {}), ...(compress === false ? { compress: false } : {}) },
  };
}

export interface EmitterBridge {
  /** Resolves once Redis confirmed both subscriptions (or with false after `timeoutMs`). */
  ready(timeoutMs: number): Promise<boolean>;
  stop(): void;
}

/**
 * Relay the emitter's classic-channel messages to this instance's sockets. `channel` is
 * the adapter's key (`REDIS_KEY_PREFIX` + `socket.io`), the emitter's `key` option.
 */
export function bridgeClassicEmitter(deps: {
  io: AppServer;
  sub: RedisConnections["sub"];
  channel: string;
  logger: Logger;
}): EmitterBridge {
  const log = deps.logger.child({ module: "emitter-bridge" });
  const broadcastPattern = `${deps.channel}#${NAMESPACE}#*`;
  const requestChannel = `${deps.channel}-request#${NAMESPACE}#`;
  const adapter = () => deps.io.of(NAMESPACE).adapter;

  const onBroadcast = (pattern: Buffer, _channel: Buffer, message: Buffer) => {
    if (pattern.toString() !== broadcastPattern) return;
    try {
      const parsed = parseBroadcast(message);
      if (!parsed) {
        log.debug("emitter message dropped: not an event broadcast to this namespace");
        return;
      }
      // Local only: every instance receives the emitter's message itself.
      adapter().broadcast(parsed.packet, { ...parsed.targets, flags: { ...parsed.flags, local: true } });
    } catch (err) {
      log.debug({ err: (err as Error).message }, "emitter message dropped: not decodable");
    }
  };

  const onRequest = (channel: Buffer, message: Buffer) => {
    if (channel.toString() !== requestChannel) return;
    try {
      const request = JSON.parse(message.toString()) as { type?: unknown; opts?: unknown; close?: unknown };
      const targets = targetsOf(request.opts);
      if (request.type !== REMOTE_DISCONNECT || !targets) {
        log.debug({ type: request.type }, "emitter request ignored: only disconnectSockets is supported");
        return;
      }
      Promise.resolve(
        adapter().disconnectSockets({ ...targets, flags: { local: true } }, request.close === true),
      ).catch((err: Error) => log.warn({ err: err.message }, "emitter disconnectSockets failed"));
    } catch (err) {
      log.debug({ err: (err as Error).message }, "emitter request dropped: not decodable");
    }
  };

  deps.sub.on("pmessageBuffer", onBroadcast);
  deps.sub.on("messageBuffer", onRequest);
  // ioredis subscribes again by itself after a reconnect.
  const subscribed = Promise.all([
    deps.sub.psubscribe(broadcastPattern),
    deps.sub.subscribe(requestChannel),
  ]).then(
    () => true,
    (err: Error) => {
      log.warn({ err: err.message }, "emitter channels not subscribed: backends' emitter messages are lost");
      return false;
    },
  );

  return {
    async ready(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        return await Promise.race([subscribed, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    stop() {
      deps.sub.off("pmessageBuffer", onBroadcast);
      deps.sub.off("messageBuffer", onRequest);
    },
  };
}
