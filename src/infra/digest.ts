import { createHash } from "node:crypto";

/** SHA-256 of a string's UTF-8 bytes: how a secret or a client's key is named without being kept. */
export const sha256 = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();
