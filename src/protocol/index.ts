export * from "./contract.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./message-id.js";
export * from "./patterns.js";
export * from "./schemas.js";
