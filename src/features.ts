import type { FeatureFactory } from "./app.js";

/** The feature modules the service runs, in start order. */
export const features: FeatureFactory[] = [];
