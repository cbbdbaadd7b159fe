import { existsSync, readFileSync } from "node:fs";
import { type Config, ConfigError } from "../config.js";

/**
 * The TLS certificate and key TLS_CERT_FILE and TLS_KEY_FILE name, read when the server is
 * built (the parser reads the environment only). A missing file is a configuration error.
 */
export function readTlsFiles(tls: Config["tls"]): { cert: Buffer; key: Buffer } | undefined {
  if (tls === undefined) return undefined;
  const files = [
    ["TLS_CERT_FILE", tls.certFile],
    ["TLS_KEY_FILE", tls.keyFile],
  ] as const;
  const missing = files.filter(([, file]) => !existsSync(file));
  if (missing.length > 0)
    throw new ConfigError(missing.map(([name, file]) => `${name}: no such file "${file}"`));
  return { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) };
}
