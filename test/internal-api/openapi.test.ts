import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/infra/logger.js";
import { createRateLimiterFactory } from "../../src/infra/rate-limit.js";
import { createInternalApi } from "../../src/internal-api/router.js";
import { startApp, type TestApp } from "../helpers/app.js";

const KEY = "openapi-test-key-0123456789";
let app: TestApp | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/**
 * Every `METHOD /path` of the internal API's router, read from Express's own stack (every
 * route of it sits in the one sub-router it mounts at /internal).
 */
function internalRoutes(): string[] {
  const router = createInternalApi(
    { key: KEY, ratePerSec: 1 },
    {
      logger: createLogger({ level: "silent", format: "json", instanceId: "t" }),
      rateLimiter: createRateLimiterFactory({ keyPrefix: "t:" }),
      notifications: {} as never,
      rooms: {} as never,
      reads: {} as never,
      disconnectUser: () => {},
      revokeUser: async () => 0,
    },
  ) as unknown as { stack: Layer[] };
  const found: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) {
          found.push(`${method.toUpperCase()} ${prefix}${layer.route.path}`);
        }
      } else if (layer.handle?.stack) walk(layer.handle.stack, "/internal");
    }
  };
  walk(router.stack, "");
  return [...new Set(found)].sort();
}

describe("the OpenAPI document", () => {
  it("describes every route the internal router has, and the webhook payloads", async () => {
    app = await startApp({ INTERNAL_API_KEY: KEY });
    const res = await fetch(`${app.url}/internal/openapi.json`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      webhooks: Record<string, unknown>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toBe("3.1.0");

    const routes = internalRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(10);
    const documented = Object.entries(doc.paths)
      .flatMap(([path, methods]) =>
        Object.keys(methods).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`),
      )
      .sort();
    expect(documented).toEqual(routes);

    expect(Object.keys(doc.webhooks).sort()).toEqual([
      "chat.message.created",
      "notification.undelivered",
      "room.occupied",
      "room.vacated",
      "user.offline",
      "user.online",
    ]);
    // Every reference resolves inside the document.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
      (m) => m[1],
    );
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(doc.components.schemas, ref).toHaveProperty(ref as string);
  });

  it("needs the API key like every internal route", async () => {
    app = await startApp({ INTERNAL_API_KEY: KEY });
    expect((await fetch(`${app.url}/internal/openapi.json`)).status).toBe(401);
  });
});
