/**
 * Live: this project's own program (every tracked file but its stack files) with a `local` stack in
 * cluster mode deploys into the fixture cluster, changes the image in place, and destroys cleanly.
 * The stack file is written into a temp copy of the program; stacks/ is not touched. It shows the
 * config a real `local` stack needs: mode cluster, a kubeconfig path, skipAwait (no kubelet).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Stack } from "@pulumi/pulumi/automation";
import YAML from "yaml";
import { startCluster, type Cluster } from "../fixtures/cluster";
import { engineEnv, openStack } from "../fixtures/engine";
import { atExit, killProcessesUnder } from "../fixtures/proc";
import { copyProject } from "../helpers/repo";

const NS = "web-local";

function localStack(kubeconfig: string, tag: string): string {
  return YAML.stringify({
    config: {
      "pulumi-gitops:environment": "local",
      "pulumi-gitops:kubernetes": { mode: "cluster", kubeconfig, skipAwait: true },
      "pulumi-gitops:namespace": {
        name: NS,
        quota: { requests: { cpu: "2", memory: "2Gi" }, limits: { cpu: "4", memory: "4Gi" }, pods: 10 },
        containerDefaults: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
      },
      "pulumi-gitops:app": {
        name: "web",
        image: { repository: "ghcr.io/example/web", tag },
        replicas: 2,
        port: 8080,
        healthPath: "/healthz",
        resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "250m", memory: "128Mi" } },
      },
    },
  });
}

describe("the project's program against a live cluster (a `local` stack)", { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let root: string;
  let dir: string;
  let stack: Stack;

  const writeStack = (tag: string) => {
    const file = path.join(dir, "stacks", "Pulumi.local.yaml");
    // Keep the salt `stack init` wrote; replace the config.
    const salt = fs.existsSync(file) ? YAML.parse(fs.readFileSync(file, "utf8"))?.encryptionsalt : undefined;
    const text = localStack(cluster.kubeconfigPath, tag);
    fs.writeFileSync(file, salt ? `encryptionsalt: ${salt}\n${text}` : text);
  };

  before(async () => {
    cluster = await startCluster();
    root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-local-"));
    atExit(() => {
      killProcessesUnder(root);
      fs.rmSync(root, { recursive: true, force: true });
    });
    dir = path.join(root, "work");
    fs.mkdirSync(path.join(dir, "stacks"), { recursive: true });
    copyProject(dir);
    fs.mkdirSync(path.join(root, "state"));
    writeStack("1.4.0");
    stack = await openStack(dir, "local", engineEnv(`file://${path.join(root, "state")}`, { GITOPS_ROOT: dir }));
  });

  after(async () => {
    await cluster?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("up creates the namespace with its quota and the web Deployment and Service", async () => {
    const res = await stack.up();
    assert.equal(res.summary.result, "succeeded");
    assert.equal((await cluster.get(`/api/v1/namespaces/${NS}`))?.status.phase, "Active");
    const quotas = (await cluster.get(`/api/v1/namespaces/${NS}/resourcequotas`)).items as any[];
    assert.equal(quotas.length, 1);
    assert.equal(quotas[0].spec.hard.pods, "10");
    const deps = (await cluster.get(`/apis/apps/v1/namespaces/${NS}/deployments`)).items as any[];
    assert.equal(deps.length, 1);
    assert.equal(deps[0].spec.replicas, 2);
    assert.equal(deps[0].spec.template.spec.containers[0].image, "ghcr.io/example/web:1.4.0");
    const svcs = (await cluster.get(`/api/v1/namespaces/${NS}/services`)).items as any[];
    assert.equal(svcs.length, 1);
  });

  it("a new image tag in the stack file rolls the Deployment in place", async () => {
    const uid = ((await cluster.get(`/apis/apps/v1/namespaces/${NS}/deployments`)).items as any[])[0].metadata.uid;
    writeStack("1.5.0");
    const res = await stack.up();
    assert.equal(res.summary.result, "succeeded");
    const deps = (await cluster.get(`/apis/apps/v1/namespaces/${NS}/deployments`)).items as any[];
    assert.equal(deps[0].spec.template.spec.containers[0].image, "ghcr.io/example/web:1.5.0");
    assert.equal(deps[0].metadata.uid, uid);
  });

  it("destroy removes the namespace and everything in it", async () => {
    const res = await stack.destroy();
    assert.equal(res.summary.result, "succeeded");
    const deadline = Date.now() + 60_000;
    while ((await cluster.get(`/api/v1/namespaces/${NS}`)) !== undefined) {
      assert.ok(cluster.controllers, "without the controller manager a deleted namespace never goes away");
      assert.ok(Date.now() < deadline, "the namespace is still there after 60 s");
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal((await stack.exportStack()).deployment.resources?.length ?? 0, 0);
  });
});
