import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { loadConfig } from "../../src/infra/config.js";
import { startApp, type TestApp } from "../helpers/app.js";
import { eventually } from "../helpers/client.js";
import { type RedisServer, startRedis } from "../helpers/redis-server.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const K8S = join(ROOT, "deploy/k8s");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

// biome-ignore lint/suspicious/noExplicitAny: manifests are plain parsed YAML, checked field by field
type Manifest = Record<string, any>;

function manifests(): Manifest[] {
  return readdirSync(K8S)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseAllDocuments(readFileSync(join(K8S, f), "utf8")).map((d) => d.toJS() as Manifest))
    .filter((m) => m?.kind);
}
const ofKind = (kind: string): Manifest => {
  const found = manifests().filter((m) => m.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as Manifest;
};

/** The environment a pod gets: the ConfigMap, then the (example) Secret. */
function podEnv(): Record<string, string> {
  return { ...ofKind("ConfigMap").data, ...ofKind("Secret").stringData };
}

describe("the Kubernetes manifests", () => {
  const deployment = () => ofKind("Deployment");
  const pod = () => deployment().spec.template;
  const container = () => pod().spec.containers[0] as Manifest;
  const portNamed = (name: string) =>
    (container().ports as Manifest[]).find((p) => p.name === name)?.containerPort as number | undefined;

  it("configure a valid production service (the ConfigMap with the example Secret)", () => {
    const config = loadConfig(podEnv());
    expect(config.isProduction).toBe(true);
    expect(config.redis.adapter).not.toBe("auto");
  });

  it("probe the configured port: readiness on /ready, liveness on /health", () => {
    const config = loadConfig(podEnv());
    const { readinessProbe, livenessProbe } = container();
    expect(readinessProbe.httpGet.path).toBe("/ready");
    expect(livenessProbe.httpGet.path).toBe("/health");
    for (const probe of [readinessProbe, livenessProbe]) {
      const port =
        typeof probe.httpGet.port === "string" ? portNamed(probe.httpGet.port) : probe.httpGet.port;
      expect(port).toBe(config.port);
    }
    const service = ofKind("Service");
    expect(portNamed(service.spec.ports[0].targetPort)).toBe(config.port);
  });

  it("give the pod more time to stop than the preStop delay and SHUTDOWN_GRACE_MS together", () => {
    const config = loadConfig(podEnv());
    const preStop = container().lifecycle.preStop.exec.command as string[];
    expect(preStop[0]).toBe("sleep");
    const preStopMs = Number(preStop[1]) * 1000;
    expect(preStopMs).toBeGreaterThan(0);
    const graceMs = pod().spec.terminationGracePeriodSeconds * 1000;
    // Closing sockets and Redis after the drain needs a few seconds more.
    expect(graceMs).toBeGreaterThanOrEqual(preStopMs + config.shutdownGraceMs + 5000);
  });

  it("select the same pods everywhere, read the ConfigMap and Secret that exist, and request resources", () => {
    const labels = pod().metadata.labels;
    for (const selector of [
      deployment().spec.selector.matchLabels,
      ofKind("PodDisruptionBudget").spec.selector.matchLabels,
      ofKind("Service").spec.selector,
    ]) {
      expect(labels).toMatchObject(selector);
    }
    const sources = container().envFrom as Manifest[];
    expect(sources.map((s) => s.configMapRef?.name ?? s.secretRef?.name).sort()).toEqual(
      [ofKind("ConfigMap").metadata.name, ofKind("Secret").metadata.name].sort(),
    );
    const { requests, limits } = container().resources;
    expect(requests.cpu).toBeDefined();
    expect(requests.memory).toBeDefined();
    const mi = (q: string) => Number(q.replace(/Mi$/, ""));
    expect(mi(limits.memory)).toBeGreaterThanOrEqual(mi(requests.memory));
    const pdb = ofKind("PodDisruptionBudget").spec;
    expect(pdb.maxUnavailable ?? deployment().spec.replicas - pdb.minAvailable).toBeLessThan(
      deployment().spec.replicas,
    );
  });

  it("list in kustomization.yaml every manifest but the example Secret", () => {
    const kustomization = parse(readFileSync(join(K8S, "kustomization.yaml"), "utf8")) as {
      resources: string[];
    };
    for (const file of kustomization.resources) expect(existsSync(join(K8S, file)), file).toBe(true);
    expect(kustomization.resources).not.toContain("secret.example.yaml");
    expect([...kustomization.resources, "secret.example.yaml", "kustomization.yaml"].sort()).toEqual(
      readdirSync(K8S)
        .filter((f) => f.endsWith(".yaml"))
        .sort(),
    );
  });

  describe("a server started with the pod's configuration", () => {
    let redis: RedisServer;
    let t: TestApp;
    beforeAll(async () => {
      redis = await startRedis();
      t = await startApp({ ...podEnv(), PORT: "0", HOST: "127.0.0.1", REDIS_URL: redis.url });
    });
    afterAll(async () => {
      await t?.close();
      await redis?.destroy();
    });

    it("passes both probes, and while Redis is down fails readiness only", async () => {
      const status = async (path: string) => (await fetch(`${t.url}${path}`)).status;
      const { readinessProbe, livenessProbe } = container();
      expect(await status(readinessProbe.httpGet.path)).toBe(200);
      expect(await status(livenessProbe.httpGet.path)).toBe(200);
      await redis.stop();
      await eventually(async () => (await status(readinessProbe.httpGet.path)) === 503, 5000);
      // A Redis outage must not make the kubelet restart every pod.
      expect(await status(livenessProbe.httpGet.path)).toBe(200);
    });
  });
});

describe("the Dockerfile, engines and CI", () => {
  const dockerfile = read("Dockerfile");
  const base = /^ARG NODE_IMAGE=(node:(\d+)-[\w.-]+)@sha256:([0-9a-f]{64})$/m.exec(dockerfile);

  it("build and run on one Node.js LTS image pinned by digest", () => {
    expect(base, "ARG NODE_IMAGE=node:<major>-<variant>@sha256:<digest>").not.toBeNull();
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    // Both stages from the one pinned base (a Dockerfile variable, not a JavaScript template).
    for (const from of froms) expect(from).toBe(["$", "{NODE_IMAGE}"].join(""));
    expect(Number(base?.[2]) % 2).toBe(0); // even majors are the LTS lines
  });

  it("state the image's Node.js major in engines, and CI runs the suite on the image's version", () => {
    const major = base?.[2];
    const engines = (JSON.parse(read("package.json")) as { engines: { node: string } }).engines.node;
    expect(engines.split("||").map((r) => r.trim())).toContain(`^${major}`);
    const ciVersion = /^NODE_IMAGE_VERSION=(\d+)\.\d+\.\d+$/m.exec(read(".ci/run"));
    expect(ciVersion?.[1]).toBe(major);
    // The Dockerfile names the exact version its digest carries: the one CI runs.
    expect(dockerfile).toContain(`(${ciVersion?.[0].split("=")[1]})`);
  });

  it("listen on the port the manifests probe", () => {
    const config = loadConfig(podEnv());
    expect(dockerfile).toMatch(new RegExp(`PORT=${config.port}\\b`));
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${config.port}$`, "m"));
  });
});

describe("compose.yaml", () => {
  // biome-ignore lint/suspicious/noExplicitAny: parsed YAML
  const compose = parse(read("compose.yaml"), { merge: true }) as { services: Record<string, any> };
  const services = compose.services;
  /** Compose's interpolation of ${VAR:?message} and ${VAR:-default}, with the user's JWT_SECRET. */
  const interpolate = (env: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(env).map(([k, v]) => [
        k,
        String(v)
          .replace(/\$\{JWT_SECRET:\?[^}]*\}/g, "compose-user-secret-0123456789abcdef0123")
          .replace(/\$\{\w+:-([^}]*)\}/g, "$1"),
      ]),
    );

  it("starts nginx only once both instances are healthy, and healthy means ready", () => {
    expect(services.nginx.depends_on).toEqual({
      "socket-a": { condition: "service_healthy" },
      "socket-b": { condition: "service_healthy" },
    });
    for (const name of ["socket-a", "socket-b"]) {
      expect(services[name].healthcheck.test.join(" ")).toContain("/ready");
    }
  });

  it("runs two production instances with a valid configuration", () => {
    for (const name of ["socket-a", "socket-b"]) {
      const config = loadConfig(interpolate(services[name].environment));
      expect(config.isProduction, name).toBe(true);
      expect(services[name].profiles).toBeUndefined();
    }
  });

  it("has a demo profile: two development instances with the demo on, one port each, one Redis", () => {
    const demo = Object.entries(services).filter(([, s]) => s.profiles?.includes("demo"));
    expect(demo.map(([name]) => name)).toEqual(["demo-a", "demo-b"]);
    const ports = demo.map(([, s]) => s.ports[0]);
    expect(new Set(ports).size).toBe(2);
    for (const [name, service] of demo) {
      const config = loadConfig(interpolate(service.environment));
      expect(config.demo.enabled, name).toBe(true);
      expect(config.redis.url).toBe(services["socket-a"].environment.REDIS_URL);
      // Each demo page is served by its own instance on its published port: both origins are allowed.
      for (const port of ports)
        expect(config.cors.origins).toContain(`http://localhost:${port.split(":")[0]}`);
    }
  });
});
