import type { RedisClient } from "../infra/redis.js";
import { defineScript } from "../infra/redis-script.js";
import { reapIndex } from "../instances/reap-index.js";
import { AppError } from "../protocol/index.js";
import type { OutboxWriter } from "../webhooks/outbox.js";
import { roomKey } from "./keys.js";
import type { MemberChange, MemberStore, RefreshResult } from "./member-store.js";
import { MEMBERS_LUA } from "./member-store.lua.js";

export interface RedisMemberStoreOptions {
  redis: RedisClient;
  keyPrefix: string;
  /** This instance's registration in the instance registry (undefined: not registered yet). */
  registration: () => string | undefined;
  /** Where `room.occupied` / `room.vacated` go, in the script's own step (unset: no webhooks). */
  outbox?: OutboxWriter;
}

type Mode = "update" | "full" | "verify" | "reap";

/** Rooms per batch while reaping a dead registration: bounds one step's work. */
const SCAN_COUNT = 200;

/**
 * Room membership across instances (layout and script: `member-store.lua.ts`). Each
 * registration also lists the rooms it holds entries in, in its own set
 *
 *   chat:instance:{<registration>}:rooms   SET  roomId
 *
 * written before the room's entries and cleaned after them, so the reapers of a dead
 * instance find every room it held without looking at any other room.
 */
export function createRedisMemberStore(options: RedisMemberStoreOptions): MemberStore {
  const { redis, keyPrefix, outbox } = options;
  const membersScript = defineScript(redis, {
    name: "chatMembers",
    lua: MEMBERS_LUA,
    keys: 3,
    decode: (r) => r as [stale: number, changes: string[], online: string[], occupancy: number],
  });
  const roomsOf = (registration: string) => `${keyPrefix}chat:instance:{${registration}}:rooms`;
  // The rooms this process has put in its registration's set (and not taken out): a join
  // to a room already there costs no extra command.
  let indexed = { registration: "", rooms: new Set<string>() };

  const current = (): string => {
    const registration = options.registration();
    if (registration === undefined) throw new AppError("UNAVAILABLE", "this instance is not registered yet");
    return registration;
  };

  /** Sent in the same tick as the script, so the index entry reaches Redis first. */
  const index = (registration: string, roomId: string): Promise<unknown> | undefined => {
    if (indexed.registration !== registration) indexed = { registration, rooms: new Set() };
    if (indexed.rooms.has(roomId)) return undefined;
    const rooms = indexed.rooms;
    rooms.add(roomId);
    return redis.sadd(roomsOf(registration), roomId).catch((err: unknown) => {
      rooms.delete(roomId);
      throw err;
    });
  };

  const run = async (
    roomId: string,
    registration: string,
    mode: Mode,
    withOnline: boolean,
    pairs: (string | number)[],
  ): Promise<RefreshResult & { online: string[] }> => {
    const members = roomKey(keyPrefix, roomId, "members");
    const keys = [members, roomKey(keyPrefix, roomId, "holders"), outbox?.script?.key ?? members];
    const [stale, flat, online, occupancy] = await membersScript(keys, [
      registration,
      mode,
      withOnline ? "1" : "0",
      outbox?.script?.spec ?? "",
      roomId,
      ...pairs,
    ]);
    const changes: MemberChange[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      changes.push({ roomId, userId: flat[i] as string, event: flat[i + 1] as MemberChange["event"] });
    }
    if (occupancy !== 0 && outbox && !outbox.script) {
      // Redis Cluster: the outbox is in another slot, a second command (docs/storage.md).
      const event = occupancy === 1 ? "join" : "leave";
      const userId = (occupancy === 1 ? changes : [...changes].reverse()).find(
        (c) => c.event === event,
      )?.userId;
      await outbox.append(
        occupancy === 1 ? "room.occupied" : "room.vacated",
        JSON.stringify({ roomId, userId: userId ?? "" }),
      );
    }
    return { stale: stale === 1, changes, online };
  };

  /** A write that may add entries: the registration's set lists the room first. */
  const write = async (roomId: string, mode: Mode, withOnline: boolean, pairs: (string | number)[]) => {
    const registration = current();
    const adds = pairs.some((value, i) => i % 2 === 1 && Number(value) > 0);
    const [, result] = await Promise.all([
      adds ? index(registration, roomId) : undefined,
      run(roomId, registration, mode, withOnline, pairs),
    ]);
    return result;
  };

  return {
    async update(roomId, userId, localSockets, withOnline = false) {
      const { changes, online } = await write(roomId, "update", withOnline, [userId, localSockets]);
      return withOnline ? { changes, online } : { changes };
    },
    async online(roomId) {
      const { changes, online } = await run(roomId, current(), "verify", true, []);
      return { changes, online };
    },
    async refresh(roomId, local) {
      if (!local) {
        const { changes, stale } = await run(roomId, current(), "verify", false, []);
        return { changes, stale };
      }
      const pairs: (string | number)[] = [];
      for (const [userId, count] of local) pairs.push(userId, count);
      const { changes, stale } = await write(roomId, "full", false, pairs);
      return { changes, stale };
    },
    async release(roomId) {
      const registration = options.registration();
      if (registration === undefined) return;
      if (indexed.registration === registration) indexed.rooms.delete(roomId);
      await redis.srem(roomsOf(registration), roomId);
    },
    async reap(registration) {
      const setKey = roomsOf(registration);
      const changes: MemberChange[] = [];
      const done = await reapIndex(redis, setKey, SCAN_COUNT, async (roomId) => {
        changes.push(...(await run(roomId, registration, "reap", false, [])).changes);
        await redis.srem(setKey, roomId);
      });
      return { changes, done };
    },
  };
}
