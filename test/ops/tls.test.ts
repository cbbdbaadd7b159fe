import { get } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { closeAllClients, connectError, connected } from "../helpers/client.js";
import { systemBinaries } from "../helpers/system-binaries.js";
import { type SelfSignedCert, selfSignedCert } from "../helpers/tls.js";
import { tokenFor } from "../helpers/tokens.js";

const binaries = systemBinaries("the TLS tests (test/ops/tls.test.ts)", "openssl");

describe.skipIf(!binaries)("serving TLS itself (TLS_CERT_FILE, TLS_KEY_FILE)", () => {
  let tls: SelfSignedCert;
  let t: TestApp;

  beforeAll(async () => {
    tls = selfSignedCert(binaries?.openssl ?? "");
    t = await startApp({ TLS_CERT_FILE: tls.certFile, TLS_KEY_FILE: tls.keyFile }, () => []);
  });
  afterAll(async () => {
    closeAllClients();
    await t?.close();
    tls?.remove();
  });

  it("answers /health over HTTPS with the configured certificate", async () => {
    expect(t.url).toMatch(/^https:\/\//);
    const body = await new Promise<string>((resolve, reject) => {
      get(`${t.url}/health`, { ca: tls.cert }, (res) => {
        let text = "";
        res.on("data", (c) => {
          text += c;
        });
        res.on("end", () => resolve(text));
      }).on("error", reject);
    });
    expect(JSON.parse(body)).toMatchObject({ status: "ok" });
  });

  for (const transport of ["websocket", "polling"] as const) {
    it(`accepts a ${transport === "websocket" ? "wss://" : "https polling"} client that trusts the certificate`, async () => {
      const socket = await connected(t.url, await tokenFor("tls-user"), {
        transports: [transport],
        ca: tls.cert,
      });
      expect(socket.connected).toBe(true);
    });
  }

  it("is refused by a client that does not trust the certificate", async () => {
    const err = await connectError(t.url, await tokenFor("tls-user"));
    expect(err.message).toMatch(/websocket error/);
  });
});
