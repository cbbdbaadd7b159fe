import type { Feature } from "../infra/feature.js";
import type { InstanceRegistry } from "./registry.js";

export type { InstanceRegistry, RegistryParticipant } from "./registry.js";

/**
 * The registry of running instances that presence and chat membership share, as a
 * feature: one heartbeat per instance every `PRESENCE_TTL_MS / 3`, dead instances
 * cleaned up by the survivors. Listed after the features that use it, so it starts once
 * they have joined it and stops heart-beating before they stop.
 */
export function createInstancesFeature(registry: InstanceRegistry): Feature {
  return { name: "instances", start: () => registry.start(), stop: () => registry.stop() };
}
