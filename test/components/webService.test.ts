import { describe, it, beforeEach } from "node:test";
import * as assert from "node:assert/strict";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { WebService, WebServiceArgs } from "../../components/webService";
import { byName, installMocks, ofType, Registered, settle, urnOf, valueOf } from "./harness";

const digest = "sha256:" + "ab".repeat(32);
const base: WebServiceArgs = {
  namespace: "team-a",
  image: { repository: "ghcr.io/example/web", tag: "1.2.3" },
  resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
};

let resources: Registered[];
beforeEach(() => {
  resources = installMocks();
});

describe("WebService", () => {
  it("has hardened defaults: non-root, read-only root, no capabilities, probes, limits", async () => {
    const svc = new WebService("web", base);
    await settle();
    const dep = byName(resources, "web-deployment").inputs;
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    assert.deepEqual(c.securityContext, {
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.automountServiceAccountToken, false);
    assert.deepEqual(c.resources, { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } });
    assert.equal(c.livenessProbe.httpGet.path, "/healthz");
    assert.equal(c.readinessProbe.httpGet.port, "http");
    assert.equal(c.image, "ghcr.io/example/web:1.2.3");
    assert.equal(dep.spec.replicas, 1);
    assert.deepEqual(dep.spec.selector.matchLabels, byName(resources, "web-service").inputs.spec.selector);
    assert.equal(dep.metadata.annotations?.["pulumi.com/skipAwait"], undefined);
    assert.equal(dep.metadata.labels["app.kubernetes.io/version"], "1.2.3");
    assert.equal(dep.spec.template.metadata.labels["app.kubernetes.io/version"], "1.2.3");
    // A release changes the Deployment only: the Service carries no version label.
    assert.equal(byName(resources, "web-service").inputs.metadata.labels["app.kubernetes.io/version"], undefined);
    // Optional children are absent unless asked for.
    assert.deepEqual(resources.map((r) => r.name).sort(), ["web", "web-deployment", "web-service"]);
    assert.equal(await valueOf(svc.serviceName), "web");
    assert.equal(await valueOf(svc.namespace), "team-a");
    assert.equal(await valueOf(svc.url), "http://web.team-a.svc.cluster.local");
  });

  it("creates Ingress, HPA and PDB on request, and leaves replicas to the autoscaler", async () => {
    new WebService("api", {
      ...base,
      appName: "api-server",
      image: { repository: "ghcr.io/example/api", digest },
      autoscaling: { minReplicas: 3, maxReplicas: 9, targetCpuUtilizationPercent: 70 },
      ingress: { host: "api.example.com", className: "nginx", tlsSecretName: "api-tls" },
      disruptionBudget: { minAvailable: 2 },
    });
    await settle();
    const dep = byName(resources, "api-deployment").inputs;
    assert.equal(dep.spec.replicas, undefined);
    assert.equal(dep.metadata.name, "api-server");
    assert.equal(dep.spec.template.spec.containers[0].image, `ghcr.io/example/api@${digest}`);
    const hpa = byName(resources, "api-hpa").inputs;
    assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [3, 9]);
    assert.equal(hpa.spec.scaleTargetRef.name, "api-server");
    const ing = byName(resources, "api-ingress").inputs;
    assert.equal(ing.spec.rules[0].host, "api.example.com");
    assert.deepEqual(ing.spec.tls, [{ hosts: ["api.example.com"], secretName: "api-tls" }]);
    assert.equal(ing.spec.rules[0].http.paths[0].backend.service.name, "api-server");
    assert.equal(byName(resources, "api-pdb").inputs.spec.minAvailable, 2);
  });

  it("names children <name>-<role> and parents them to the component", async () => {
    const svc = new WebService("web", { ...base, ingress: { host: "w.example.com" }, disruptionBudget: { maxUnavailable: 1 } });
    const children = [svc.deployment, svc.service, svc.ingress!, svc.disruptionBudget!];
    const urns = await Promise.all(children.map(urnOf));
    for (const urn of urns)
      assert.match(urn, /::pulumi-gitops:kubernetes:WebService\$kubernetes:[^:]+:[A-Za-z]+::web-(deployment|service|ingress|pdb)$/);
  });

  it("passes the provider from its options to every child", async () => {
    const provider = new k8s.Provider("cluster", { renderYamlToDirectory: "/tmp/unused" });
    new WebService("web", base, { provider });
    await settle();
    const children = resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== "pulumi:providers:kubernetes");
    assert.ok(children.length >= 2);
    for (const r of children) assert.match(r.provider ?? "", /pulumi:providers:kubernetes::cluster::/, r.name);
  });

  it("marks every resource skipAwait when asked", async () => {
    new WebService("web", { ...base, skipAwait: true, ingress: { host: "w.example.com" }, disruptionBudget: { maxUnavailable: 1 } });
    await settle();
    const k8sResources = resources.filter((r) => r.type.startsWith("kubernetes:"));
    assert.equal(k8sResources.length, 4);
    for (const r of k8sResources) assert.equal(r.inputs.metadata.annotations["pulumi.com/skipAwait"], "true", r.name);
  });

  it("forces field ownership on every resource only when asked", async () => {
    new WebService("owned", { ...base, forceOwnership: true, ingress: { host: "w.example.com" } });
    new WebService("shared", base);
    await settle();
    const of = (prefix: string) => resources.filter((r) => r.type.startsWith("kubernetes:") && r.name.startsWith(prefix + "-"));
    assert.equal(of("owned").length, 3);
    for (const r of of("owned")) assert.equal(r.inputs.metadata.annotations["pulumi.com/patchForce"], "true", r.name);
    for (const r of of("shared")) assert.equal(r.inputs.metadata.annotations?.["pulumi.com/patchForce"], undefined, r.name);
  });

  const conflicts: { name: string; args: Partial<WebServiceArgs>; error: RegExp }[] = [
    { name: "tag and digest", args: { image: { repository: "r/app", tag: "1", digest } }, error: /not both/ },
    {
      name: "replicas and autoscaling",
      args: { replicas: 2, autoscaling: { minReplicas: 1, maxReplicas: 3, targetCpuUtilizationPercent: 80 } },
      error: /replicas or autoscaling/,
    },
    {
      name: "min above max",
      args: { autoscaling: { minReplicas: 5, maxReplicas: 3, targetCpuUtilizationPercent: 80 } },
      error: /minReplicas <= maxReplicas/,
    },
    { name: "PDB with both", args: { disruptionBudget: { minAvailable: 1, maxUnavailable: 1 } }, error: /exactly one of minAvailable/ },
    { name: "PDB with neither", args: { disruptionBudget: {} }, error: /exactly one of minAvailable/ },
    { name: "bad port", args: { port: 70000 }, error: /port must be/ },
  ];
  for (const c of conflicts)
    it(`rejects ${c.name} before registering anything`, async () => {
      assert.throws(() => new WebService("bad", { ...base, ...c.args }), c.error);
      await settle();
      assert.deepEqual(resources, []);
    });

  it("differs per environment the way the stacks ask", async () => {
    new WebService("dev", { ...base, replicas: 1, environment: "dev" });
    new WebService("prod", {
      ...base,
      image: { repository: "ghcr.io/example/web", digest },
      autoscaling: { minReplicas: 3, maxReplicas: 12, targetCpuUtilizationPercent: 70 },
      environment: "prod",
    });
    await settle();
    assert.equal(ofType(resources, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler").length, 1);
    const dev = byName(resources, "dev-deployment").inputs;
    const prod = byName(resources, "prod-deployment").inputs;
    assert.equal(dev.spec.replicas, 1);
    assert.equal(prod.spec.replicas, undefined);
    assert.equal(dev.metadata.labels["pulumi-gitops/environment"], "dev");
    assert.match(prod.spec.template.spec.containers[0].image, /@sha256:/);
  });
});

describe("WebService secretEnv", () => {
  it("keeps secret variables in a Secret, marked secret, and refers to them from the pods", async () => {
    const web = new WebService("api", { ...base, env: { MODE: "x" }, secretEnv: { TOKEN: "t0k" } });
    await settle();
    assert.equal(await pulumi.isSecret(web.secretEnv!.stringData), true);
    const dep = byName(resources, "api-deployment");
    assert.deepEqual(dep.inputs.spec.template.spec.containers[0].env, [
      { name: "MODE", value: "x" },
      { name: "TOKEN", valueFrom: { secretKeyRef: { name: "api-env", key: "TOKEN" } } },
    ]);
    assert.equal(ofType(resources, "kubernetes:core/v1:Secret").length, 1);
  });

  it("refuses a variable set both plainly and as a secret", () => {
    assert.throws(
      () => new WebService("x", { ...base, env: { TOKEN: "a" }, secretEnv: { TOKEN: "b" } }),
      /env and secretEnv both set TOKEN/,
    );
  });
});
