import { createAdminFeature } from "./admin/index.js";
import type { FeatureDeps } from "./app.js";
import { createChatFeature } from "./chat/index.js";
import { createDemoFeature } from "./demo/index.js";
import type { Feature } from "./infra/feature.js";
import { createInstancesFeature } from "./instances/index.js";
import { createInternalApiFeature } from "./internal-api/index.js";
import { createNotificationsFeature } from "./notifications/index.js";
import { createPresenceFeature } from "./presence/index.js";

/**
 * The feature modules the service runs, in start order (stopped in reverse), with
 * their dependencies on each other passed explicitly.
 */
export function buildFeatures(deps: FeatureDeps): Feature[] {
  const features: Feature[] = [];
  const instances = createInstancesFeature(deps);
  features.push(createPresenceFeature(deps, { registry: instances.registry }));
  const chat = createChatFeature(deps, { registry: instances.registry });
  features.push(chat);
  const notifications = createNotificationsFeature(deps);
  features.push(notifications);
  features.push(
    createInternalApiFeature(deps, { notifications: notifications.service, rooms: chat.service }),
  );
  if (deps.config.demo.enabled) {
    features.push(createDemoFeature(deps, { notifications: notifications.service }));
  }
  if (deps.config.admin.enabled) features.push(createAdminFeature(deps));
  // Last: it starts once the features that use it joined it, and stops heart-beating before they stop.
  features.push(instances);
  return features;
}
