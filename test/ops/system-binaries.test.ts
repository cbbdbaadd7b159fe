import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Nginx } from "../helpers/nginx.js";
import { findBinary, systemBinaries } from "../helpers/system-binaries.js";
import { selfSignedCert } from "../helpers/tls.js";

/**
 * `npm test` on a machine without nginx, Chromium or openssl: the suites that need one skip
 * with a warning (or fail under REQUIRE_ALL_TESTS=1), and a helper whose binary is missing
 * fails cleanly: no uncaught spawn error, no process, no temp folder left behind.
 */

const MISSING = "/nonexistent/bin/nginx";

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe("tests that need a system binary", () => {
  it("are skipped with a loud warning when it is missing", () => {
    vi.stubEnv("NGINX_PATH", MISSING);
    vi.stubEnv("REQUIRE_ALL_TESTS", "");
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(findBinary("nginx")).toBeUndefined();
    expect(systemBinaries("the load balancer test", "nginx")).toBeUndefined();
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining(
        "WARNING: SKIPPED the load balancer test: no nginx (apt-get install nginx-light",
      ),
    );
  });

  it("fail instead when REQUIRE_ALL_TESTS=1", () => {
    vi.stubEnv("NGINX_PATH", MISSING);
    vi.stubEnv("REQUIRE_ALL_TESTS", "1");
    expect(() => systemBinaries("the load balancer test", "nginx")).toThrow(
      /^REQUIRE_ALL_TESTS=1: the load balancer test needs nginx \(apt-get install nginx-light/,
    );
  });

  it("get the binary's path when it is there", () => {
    vi.stubEnv("NGINX_PATH", process.execPath);
    expect(systemBinaries("a test", "nginx")).toEqual({ nginx: process.execPath });
  });
});

describe("helpers whose binary is missing", () => {
  it("nginx: rejects with the spawn error and leaves no temp folder", async () => {
    const nginx = new Nginx(MISSING, {
      SOCKET_UPSTREAM_A: "127.0.0.1:1",
      SOCKET_UPSTREAM_B: "127.0.0.1:2",
      LB_HTTP_PORT: "1",
      LB_HTTPS_PORT: "2",
      LB_TLS_CERT: "/nonexistent/cert.pem",
      LB_TLS_KEY: "/nonexistent/key.pem",
    });
    await expect(nginx.start()).rejects.toThrow(/nginx did not start: .*ENOENT/);
    expect(existsSync(nginx.dir)).toBe(false);
  });

  it("openssl: a certificate's temp folder goes with remove()", () => {
    const openssl = findBinary("openssl");
    if (!openssl) return; // nothing to make a certificate with: covered by the skip tests above
    const cert = selfSignedCert(openssl);
    expect(existsSync(cert.certFile)).toBe(true);
    cert.remove();
    expect(existsSync(dirname(cert.certFile))).toBe(false);
  });
});
