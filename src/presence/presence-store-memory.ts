import type { PresenceState } from "../protocol/index.js";
import {
  type ConnectionRef,
  type PresenceStore,
  type PresenceStoreOptions,
  type PresenceUpdate,
  presenceState,
  type SettableStatus,
} from "./store.js";

interface UserRecord {
  /** `instance/socketId` → connected at. */
  conns: Map<string, number>;
  online: boolean;
  /** Absent means "online" (the default a user comes back with). */
  status?: SettableStatus;
  text?: string;
  lastSeen: number;
  offlineAt?: number;
}

const connField = (conn: ConnectionRef) => `${conn.instance}/${conn.socketId}`;

/**
 * The store of a single instance without Redis (development, tests). Same contract
 * as the Redis store, instance registrations included, so the service does not care
 * which one it runs on.
 */
export function createMemoryPresenceStore(
  options: PresenceStoreOptions,
): PresenceStore & { connections(userId: string): number } {
  const users = new Map<string, UserRecord>();
  // Per registration, its connections keyed by `socketId/userId`, so a reaper can find them.
  const registrations = new Map<string, Map<string, ConnectionRef>>();
  const indexKey = (conn: ConnectionRef) => `${conn.socketId}/${conn.userId}`;
  const pending = new Map<string, number>();
  // Offline users in the order they went offline, so expired ones are purged from the front.
  const offlineSince = new Map<string, number>();

  const stateOf = (userId: string, record: UserRecord | undefined): PresenceState => {
    if (!record) return presenceState(userId, "offline", undefined, 0, 0);
    const status = record.online ? (record.status ?? "online") : "offline";
    return presenceState(userId, status, record.text, record.lastSeen, record.conns.size);
  };

  const update = (userId: string, record: UserRecord | undefined, changed: boolean): PresenceUpdate => {
    const result: PresenceUpdate = { state: stateOf(userId, record), changed };
    if (record?.offlineAt !== undefined) result.offlineAt = record.offlineAt;
    return result;
  };

  const live = (userId: string, now: number): UserRecord | undefined => {
    const record = users.get(userId);
    if (record && !record.online && (offlineSince.get(userId) ?? now) + options.retentionMs <= now) {
      users.delete(userId);
      offlineSince.delete(userId);
      return undefined;
    }
    return record;
  };

  const newRecord = (): UserRecord => ({ conns: new Map(), online: false, lastSeen: 0 });

  const emit = (type: "user.online" | "user.offline", data: object) => {
    // The memory writer adds the entry synchronously: the same step as the change.
    if (options.outbox?.wants(type)) void options.outbox.append(type, JSON.stringify(data));
  };

  const goOffline = (userId: string, record: UserRecord, now: number) => {
    emit("user.offline", { userId, lastSeen: record.lastSeen });
    record.online = false;
    record.status = undefined;
    record.offlineAt = undefined;
    pending.delete(userId);
    offlineSince.delete(userId);
    offlineSince.set(userId, now);
  };

  const removeConnection = (conn: ConnectionRef, now: number, lastSeen: number) => {
    const record = live(conn.userId, now);
    if (!record?.conns.delete(connField(conn)))
      return { ...update(conn.userId, record, false), removed: false };
    record.lastSeen = Math.max(record.lastSeen, lastSeen);
    if (record.conns.size > 0 || !record.online)
      return { ...update(conn.userId, record, false), removed: true };
    const offlineAt = lastSeen + options.graceMs;
    if (offlineAt > now) {
      record.offlineAt = offlineAt;
      pending.set(conn.userId, offlineAt);
      return { ...update(conn.userId, record, false), removed: true };
    }
    goOffline(conn.userId, record, now);
    return { ...update(conn.userId, record, true), removed: true };
  };

  const store: PresenceStore & { connections(userId: string): number } = {
    /** Synchronous, for the memory notification store's `notification.undelivered`. */
    connections: (userId) => users.get(userId)?.conns.size ?? 0,
    async connect(conn, now) {
      let record = live(conn.userId, now);
      if (!record) {
        record = newRecord();
        users.set(conn.userId, record);
      }
      let held = registrations.get(conn.instance);
      if (!held) {
        held = new Map();
        registrations.set(conn.instance, held);
      }
      held.set(indexKey(conn), conn);
      record.conns.set(connField(conn), now);
      record.lastSeen = now;
      record.offlineAt = undefined;
      pending.delete(conn.userId);
      offlineSince.delete(conn.userId);
      const changed = !record.online;
      record.online = true;
      if (changed) emit("user.online", { userId: conn.userId, at: now });
      return update(conn.userId, record, changed);
    },

    async connectWithin(conn, now, max) {
      const conns = live(conn.userId, now)?.conns;
      if (conns && !conns.has(connField(conn)) && conns.size >= max) return undefined;
      return store.connect(conn, now);
    },

    async disconnect(conn, at) {
      const held = registrations.get(conn.instance);
      held?.delete(indexKey(conn));
      if (held?.size === 0) registrations.delete(conn.instance);
      return removeConnection(conn, at.now, at.lastSeen);
    },

    async setStatus(userId, status, text, now) {
      const record = live(userId, now) ?? newRecord();
      users.set(userId, record);
      const before = { status: record.status ?? "online", text: record.text ?? "" };
      record.status = status === "online" ? undefined : status;
      record.text = text || undefined;
      record.lastSeen = now;
      let changed = false;
      if (record.online) {
        changed = before.status !== status || before.text !== (text ?? "");
      } else if (record.conns.size > 0) {
        // Connected but never announced (a registration raced a lost Redis): heal it.
        record.online = true;
        record.offlineAt = undefined;
        offlineSince.delete(userId);
        changed = true;
        emit("user.online", { userId, at: now });
      }
      return update(userId, record, changed);
    },

    async get(userIds, now) {
      return userIds.map((id) => stateOf(id, live(id, now)));
    },

    async settle(userId, now) {
      const record = live(userId, now);
      if (!record) return { state: stateOf(userId, undefined), changed: false };
      if (record.offlineAt === undefined || record.offlineAt > now || record.conns.size > 0) {
        if (record.conns.size > 0) record.offlineAt = undefined;
        return update(userId, record, false);
      }
      goOffline(userId, record, now);
      return update(userId, record, true);
    },

    async settleDue(now, limit) {
      for (const [userId, since] of offlineSince) {
        if (since + options.retentionMs > now) break;
        live(userId, now);
      }
      const changes: PresenceState[] = [];
      for (const [userId, deadline] of pending) {
        if (changes.length >= limit) break;
        if (deadline > now) continue;
        pending.delete(userId);
        const { state, changed } = await store.settle(userId, now);
        if (changed) changes.push(state);
      }
      return changes;
    },

    async connectionCount(registration) {
      return registrations.get(registration)?.size ?? 0;
    },

    async reap({ registration, lastBeat }, now) {
      const changes: PresenceState[] = [];
      for (const conn of registrations.get(registration)?.values() ?? []) {
        const { state, changed } = removeConnection(conn, now, lastBeat);
        if (changed) changes.push(state);
      }
      registrations.delete(registration);
      return { changes, done: true };
    },
  };
  return store;
}
