import { describe, it, beforeEach } from "node:test";
import * as assert from "node:assert/strict";
import { allowSameNamespaceSpec, defaultDenySpec, quotaHard, TenantNamespace, TenantNamespaceArgs } from "../../components/tenantNamespace";
import { byName, installMocks, Registered, settle, urnOf, valueOf } from "./harness";

const args: TenantNamespaceArgs = {
  quota: { requests: { cpu: "2", memory: "4Gi" }, limits: { cpu: "4", memory: "8Gi" }, pods: 20 },
};

let resources: Registered[];
beforeEach(() => {
  resources = installMocks();
});

describe("pure specs", () => {
  it("quotaHard covers requests, limits and pods", () => {
    assert.deepEqual(quotaHard(args.quota), {
      "requests.cpu": "2",
      "requests.memory": "4Gi",
      "limits.cpu": "4",
      "limits.memory": "8Gi",
      pods: "20",
    });
  });
  it("default deny selects every pod and allows nothing", () => {
    const spec = defaultDenySpec();
    assert.deepEqual(spec, { podSelector: {}, policyTypes: ["Ingress", "Egress"] });
  });
  const table: { from: string[]; ingressPeers: number }[] = [
    { from: [], ingressPeers: 1 },
    { from: ["ingress-nginx"], ingressPeers: 2 },
  ];
  for (const t of table)
    it(`allow-same-namespace with ${t.from.length} extra namespaces`, () => {
      const spec = allowSameNamespaceSpec(t.from) as any;
      assert.equal(spec.ingress[0].from.length, t.ingressPeers);
      assert.deepEqual(spec.ingress[0].from[0], { podSelector: {} });
      if (t.from.length > 0) assert.deepEqual(spec.ingress[0].from[1].namespaceSelector.matchExpressions[0].values, t.from);
      // Egress: same namespace, plus DNS only on port 53.
      assert.deepEqual(spec.egress[0], { to: [{ podSelector: {} }] });
      assert.deepEqual(
        spec.egress[1].ports.map((p: any) => p.port),
        [53, 53],
      );
    });
});

describe("TenantNamespace", () => {
  it("creates namespace, quota, limit range and both network policies as parented children", async () => {
    const ns = new TenantNamespace("team-a", { ...args, environment: "staging" });
    assert.equal(await valueOf(ns.namespaceName), "team-a");
    await settle();
    assert.deepEqual(resources.map((r) => r.name).sort(), [
      "team-a",
      "team-a-allow-same-namespace",
      "team-a-default-deny",
      "team-a-limits",
      "team-a-namespace",
      "team-a-quota",
    ]);
    const namespace = byName(resources, "team-a-namespace").inputs;
    assert.equal(namespace.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
    assert.equal(namespace.metadata.labels["pulumi-gitops/environment"], "staging");
    for (const child of resources.filter((r) => r.type !== "kubernetes:core/v1:Namespace" && r.type.startsWith("kubernetes:")))
      assert.equal(child.inputs.metadata.namespace, "team-a", child.name);
    assert.deepEqual(byName(resources, "team-a-quota").inputs.spec.hard, quotaHard(args.quota));
    const limit = byName(resources, "team-a-limits").inputs.spec.limits[0];
    assert.equal(limit.type, "Container");
    assert.ok(limit.default.cpu && limit.defaultRequest.memory);
    for (const r of [ns.namespace, ns.quota, ns.limitRange])
      assert.match(await urnOf(r), /pulumi-gitops:kubernetes:TenantNamespace\$kubernetes:/);
  });

  it("uses namespaceName and containerDefaults when given", async () => {
    new TenantNamespace("t", {
      ...args,
      namespaceName: "payments",
      containerDefaults: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "20m", memory: "32Mi" } },
    });
    await settle();
    assert.equal(byName(resources, "t-namespace").inputs.metadata.name, "payments");
    assert.deepEqual(byName(resources, "t-limits").inputs.spec.limits[0].default, { cpu: "20m", memory: "32Mi" });
  });

  const bad: { name: string; a: TenantNamespaceArgs; error: RegExp }[] = [
    { name: "upper-case name", a: { ...args, namespaceName: "Team_A" }, error: /not a DNS label/ },
    { name: "zero pods", a: { ...args, quota: { ...args.quota, pods: 0 } }, error: /quota.pods/ },
  ];
  for (const b of bad)
    it(`rejects ${b.name} before registering anything`, async () => {
      assert.throws(() => new TenantNamespace("x", b.a), b.error);
      await settle();
      assert.deepEqual(resources, []);
    });
});
