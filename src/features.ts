import type { FeatureDeps } from "./app.js";
import type { Feature } from "./infra/feature.js";

/**
 * The feature modules the service runs, in start order (stopped in reverse), with
 * their dependencies on each other passed explicitly.
 */
export function buildFeatures(deps: FeatureDeps): Feature[] {
  const features: Feature[] = [];
  return features;
}
