/**
 * Live: the real engine deploys test/fixtures/k8s-app into a real kube-apiserver on 127.0.0.1,
 * changes it, and destroys it; every check reads the objects back from the API server.
 * Needs provision/pulumi-engine.sh and provision/test-cluster.sh (the fixture runs the latter, instant when warm).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Stack } from "@pulumi/pulumi/automation";
import { startCluster, type Cluster } from "../fixtures/cluster";
import { copyProgram, engineEnv, openStack } from "../fixtures/engine";
import { atExit } from "../fixtures/proc";

const NS = "live-web";

async function eventually<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("a live Kubernetes cluster", { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let stack: Stack;
  let program: { dir: string; remove(): void };
  let stateDir: string;

  before(async () => {
    cluster = await startCluster();
    program = copyProgram("k8s-app");
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-live-state-"));
    atExit(() => fs.rmSync(stateDir, { recursive: true, force: true }));
    stack = await openStack(program.dir, "live", engineEnv(`file://${stateDir}`));
    await stack.setAllConfig({
      kubeconfig: { value: cluster.kubeconfig, secret: true },
      namespace: { value: NS },
      image: { value: "nginx:1.27" },
    });
  });

  after(async () => {
    // Always, also after a failed test: the cluster's processes, the state and the program copy.
    await cluster?.stop();
    program?.remove();
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it("up creates the Namespace, Deployment and Service in the API server", async () => {
    const res = await stack.up();
    assert.equal(res.summary.result, "succeeded");
    assert.equal(res.outputs.namespaceName.value, NS);

    const ns = await cluster.get(`/api/v1/namespaces/${NS}`);
    assert.equal(ns?.status.phase, "Active");
    const dep = await cluster.get(`/apis/apps/v1/namespaces/${NS}/deployments/web`);
    assert.equal(dep.spec.template.spec.containers[0].image, "nginx:1.27");
    assert.equal(dep.spec.replicas, 1);
    const svc = await cluster.get(`/api/v1/namespaces/${NS}/services/web`);
    assert.match(svc.spec.clusterIP, /^10\.96\.0\.\d+$/);
    assert.equal(svc.spec.ports[0].port, 80);
    if (cluster.controllers) {
      // The deployment controller really acted on it: a ReplicaSet owned by the Deployment.
      const rs = await eventually(
        "a ReplicaSet for web",
        async () => (await cluster.get(`/apis/apps/v1/namespaces/${NS}/replicasets`)).items as any[],
        (items) => items.length === 1,
      );
      assert.equal(rs[0].metadata.ownerReferences[0].name, "web");
      assert.equal(rs[0].spec.template.spec.containers[0].image, "nginx:1.27");
    }
  });

  it("a changed image and replica count are applied in place", async () => {
    const before = await cluster.get(`/apis/apps/v1/namespaces/${NS}/deployments/web`);
    await stack.setConfig("image", { value: "nginx:1.28" });
    await stack.setConfig("replicas", { value: "3" });
    const res = await stack.up();
    assert.equal(res.summary.result, "succeeded");
    assert.equal(res.summary.resourceChanges?.update, 1);
    const dep = await cluster.get(`/apis/apps/v1/namespaces/${NS}/deployments/web`);
    assert.equal(dep.spec.template.spec.containers[0].image, "nginx:1.28");
    assert.equal(dep.spec.replicas, 3);
    assert.equal(dep.metadata.uid, before.metadata.uid, "updated, not replaced");

    // Nothing else to do: a second up is a no-op, and preview agrees with the cluster.
    const again = await stack.preview();
    assert.deepEqual(Object.keys(again.changeSummary).sort(), ["same"]);
  });

  it("drift made behind Pulumi's back: refresh sees it, up refuses to fight another field manager unless forced", async () => {
    const scaled = await cluster.request("PUT", `/apis/apps/v1/namespaces/${NS}/deployments/web/scale`, {
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: { name: "web", namespace: NS },
      spec: { replicas: 5 },
    });
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    const res = await stack.refresh();
    assert.equal(res.summary.result, "succeeded");
    assert.equal(res.summary.resourceChanges?.update, 1, "refresh notices the drifted Deployment");

    // Server-side apply: spec.replicas now belongs to the scale subresource's manager.
    await assert.rejects(stack.up(), /Server-Side Apply field conflict[\s\S]*\.spec\.replicas/);
    assert.equal((await cluster.get(`/apis/apps/v1/namespaces/${NS}/deployments/web`)).spec.replicas, 5);

    await stack.setConfig("forceApply", { value: "true" });
    const forced = await stack.up();
    assert.equal(forced.summary.result, "succeeded");
    assert.equal((await cluster.get(`/apis/apps/v1/namespaces/${NS}/deployments/web`)).spec.replicas, 3, "the declared count is back");
  });

  it("destroy leaves nothing in the cluster and nothing in the state", async () => {
    const res = await stack.destroy();
    assert.equal(res.summary.result, "succeeded");
    assert.equal(await cluster.get(`/apis/apps/v1/namespaces/${NS}/deployments/web`), undefined);
    assert.equal(await cluster.get(`/api/v1/namespaces/${NS}/services/web`), undefined);
    if (cluster.controllers) {
      await eventually(
        "the namespace is gone",
        () => cluster.get(`/api/v1/namespaces/${NS}`),
        (ns) => ns === undefined,
      );
    } else {
      const ns = await cluster.get(`/api/v1/namespaces/${NS}`);
      assert.ok(ns === undefined || ns.metadata.deletionTimestamp, "the namespace is gone or being deleted");
    }
    const state = await stack.exportStack();
    assert.equal((state.deployment.resources ?? []).length, 0);
    await stack.workspace.removeStack("live");
  });
});
