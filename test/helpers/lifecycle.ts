import { afterAll, afterEach, beforeAll } from "vitest";
import { closeAllClients } from "./client.js";
import { type RedisServer, type RedisServerOptions, startRedis } from "./redis-server.js";

export interface PrivateRedis<T> {
  /** The file's own redis-server (started before the first test). */
  redis: RedisServer;
  /** Apps a test started: closed, with every client, after each test. */
  apps: T[];
}

/**
 * The usual lifecycle of a test file that needs Redis: one private redis-server for the
 * file, clients and apps closed after every test, Redis destroyed at the end.
 */
export function usePrivateRedis<T extends { close(): Promise<void> }>(
  options: RedisServerOptions = {},
): PrivateRedis<T> {
  const state = { apps: [] as T[] } as PrivateRedis<T>;
  beforeAll(async () => {
    state.redis = await startRedis(options);
  });
  afterEach(async () => {
    closeAllClients();
    await Promise.all(state.apps.splice(0).map((a) => a.close()));
  });
  afterAll(async () => {
    await state.redis?.destroy();
  });
  return state;
}
