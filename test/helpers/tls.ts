import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SelfSignedCert {
  certFile: string;
  keyFile: string;
  cert: string;
  /** Delete the files (teardown). */
  remove(): void;
}

/**
 * A self-signed certificate for localhost / 127.0.0.1, made with openssl for this test run
 * (`openssl` is the binary's path, from `systemBinaries`).
 */
export function selfSignedCert(openssl: string): SelfSignedCert {
  const dir = mkdtempSync(join(tmpdir(), "rt-tls-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    execFileSync(
      openssl,
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout",
        keyFile,
        "-out",
        certFile,
      ],
      { stdio: "ignore" },
    );
    return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), remove };
  } catch (err) {
    remove();
    throw err;
  }
}
