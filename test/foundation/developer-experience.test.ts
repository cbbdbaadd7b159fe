import { spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../helpers/app.js";
import { DIST_MAIN } from "../helpers/child-server.js";
import { eventually } from "../helpers/client.js";

describe("a person opening the service", () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("answers GET / with JSON pointing to the probes, the demo and the docs", async () => {
    t = await startApp({ DEMO_ENABLED: "true", INSTANCE_ID: "root-1" });
    const res = await fetch(`${t.url}/`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      version: "0.0.0",
      instanceId: "root-1",
      links: { health: "/health", ready: "/ready", metrics: "/metrics", demo: "/demo" },
      socketIo: { path: "/socket.io" },
      docs: expect.stringContaining("README.md"),
    });
    // Every link it gives leads somewhere.
    for (const path of Object.values(body.links as Record<string, string>)) {
      expect((await fetch(`${t.url}${path}`)).status, path).toBe(200);
    }
  });

  it("leaves the demo out of GET / when the demo is off", async () => {
    t = await startApp({ DEMO_ENABLED: "false" });
    const body = (await (await fetch(`${t.url}/`)).json()) as { links: Record<string, string> };
    expect(body.links).not.toHaveProperty("demo");
    expect((await fetch(`${t.url}/demo`)).status).toBe(404);
  });

  it("logs the URL it listens on, and the demo's link when the demo is on", async () => {
    t = await startApp({ DEMO_ENABLED: "true" });
    expect(t.logs.find((l) => l.msg === "listening")).toMatchObject({ url: t.url, demo: `${t.url}/demo` });
    await t.close();
    t = await startApp({ DEMO_ENABLED: "false" });
    const line = t.logs.find((l) => l.msg === "listening");
    expect(line).toMatchObject({ url: t.url });
    expect(line).not.toHaveProperty("demo");
  });

  it("writes human-readable lines with LOG_FORMAT=pretty", async () => {
    const child = spawn(process.execPath, [DIST_MAIN], {
      env: {
        PATH: process.env.PATH ?? "",
        NODE_ENV: "development",
        HOST: "127.0.0.1",
        PORT: "0",
        LOG_FORMAT: "pretty",
        DEMO_ENABLED: "true",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    try {
      await eventually(() => /listening[\s\S]*demo: /.test(out), 10_000);
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
    const listening = out.split("\n").find((line) => line.includes("listening")) ?? "";
    // Not JSON: a time, a level word and the message, then the fields indented below.
    expect(() => JSON.parse(listening)).toThrow();
    expect(listening).toMatch(/\d\d:\d\d:\d\d\.\d{3}.*INFO.*listening/);
    expect(out).toMatch(/demo: "http:\/\/127\.0\.0\.1:\d+\/demo"/);
    expect(out).toMatch(/url: "http:\/\/127\.0\.0\.1:\d+"/);
    expect(out).toContain("NO JWT KEY CONFIGURED");
  });
});
