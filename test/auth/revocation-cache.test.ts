import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRevocations, type Revocations } from "../../src/auth/revocation.js";
import type { RevocationStore } from "../../src/auth/revocation-store.js";
import { createRedisRevocationStore, revocationChannel } from "../../src/auth/revocation-store-redis.js";
import { createLogger } from "../../src/infra/logger.js";
import { eventually } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

/** The per-instance revocation cache against a real Redis: what it reads, and when. */

let redis: RedisServer;
const clients: Redis[] = [];
const started: Revocations[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(() => {
  for (const r of started.splice(0)) r.stop();
  for (const c of clients.splice(0)) c.disconnect();
});
afterAll(async () => {
  await redis.destroy();
});

const logger = createLogger({ level: "silent", format: "json", instanceId: "t" });

/** One instance's revocations on the shared Redis; `wrap` sees its store's reads. */
async function instance(keyPrefix: string, wrap: (store: RevocationStore) => RevocationStore = (s) => s) {
  const command = redis.client();
  const sub = redis.client();
  clients.push(command, sub);
  // start() subscribes at once on a ready connection, later (on "ready") on one still connecting.
  if (sub.status !== "ready") await once(sub, "ready");
  const revocations = createRevocations({
    store: wrap(createRedisRevocationStore({ redis: command, keyPrefix })),
    channel: { sub, name: revocationChannel(keyPrefix) },
    keepMs: 60_000,
    logger,
  });
  await revocations.start();
  started.push(revocations);
  return revocations;
}

const countingReads =
  (reads: { count: number }) =>
  (store: RevocationStore): RevocationStore => ({
    revoke: (...args) => store.revoke(...args),
    get: (userId) => {
      reads.count += 1;
      return store.get(userId);
    },
  });

describe("the revocation cache", () => {
  it("reads Redis for a user's first check only, and hears a revocation made elsewhere", async () => {
    const prefix = `rc${randomBytes(4).toString("hex")}:`;
    const reads = { count: 0 };
    const a = await instance(prefix);
    const b = await instance(prefix, countingReads(reads));
    const issuedAt = Math.floor(Date.now() / 1000) - 10;

    expect(await b.isRevoked("ann", issuedAt)).toBe(false);
    expect(await b.isRevoked("ann", issuedAt)).toBe(false);
    expect(reads.count).toBe(1);

    await a.revoke("ann", Date.now());
    await eventually(() => b.isRevoked("ann", issuedAt));
    expect(reads.count).toBe(1);
  });

  it("never lets a read that raced an announcement lower the time it announced", async () => {
    const prefix = `rc${randomBytes(4).toString("hex")}:`;
    const a = await instance(prefix);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // B's read is answered by Redis before the revocation, but handled after its announcement.
    const b = await instance(prefix, (store) => ({
      revoke: (...args) => store.revoke(...args),
      get: async (userId) => {
        const value = await store.get(userId);
        await held;
        return value;
      },
    }));
    const issuedAt = Math.floor(Date.now() / 1000) - 10;
    const check = b.isRevoked("bo", issuedAt);
    await new Promise((r) => setTimeout(r, 50));
    const heard = new Promise<void>((resolve) => b.onRevoked(() => resolve()));
    await a.revoke("bo", Date.now());
    await heard;
    release();
    expect(await check).toBe(true);
    expect(await b.isRevoked("bo", issuedAt)).toBe(true);
  });
});
