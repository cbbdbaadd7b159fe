import type { FeatureDeps } from "../app.js";
import type { Feature } from "../infra/feature.js";
import { createMemoryInstanceStore } from "./instance-store-memory.js";
import { createRedisInstanceStore } from "./instance-store-redis.js";
import { createInstanceRegistry, type InstanceRegistry } from "./registry.js";

export type { InstanceRegistry, RegistryParticipant } from "./registry.js";

export interface InstancesFeature extends Feature {
  registry: InstanceRegistry;
}

/**
 * The registry of running instances that presence and chat membership share: one
 * heartbeat per instance every `PRESENCE_TTL_MS / 3`, dead instances cleaned up by the
 * survivors. Listed after the features that use it, so it starts once they have joined
 * and stops heart-beating before they stop.
 */
export function createInstancesFeature(deps: FeatureDeps): InstancesFeature {
  const store = deps.redis
    ? createRedisInstanceStore({ redis: deps.redis.command, keyPrefix: deps.config.redis.keyPrefix })
    : createMemoryInstanceStore();
  const registry = createInstanceRegistry({
    store,
    instanceId: deps.instanceId,
    ttlMs: deps.config.presence.ttlMs,
    logger: deps.logger,
  });
  return { name: "instances", registry, start: () => registry.start(), stop: () => registry.stop() };
}
