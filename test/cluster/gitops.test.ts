/**
 * Live: the gitops CLI, as a user runs it, against a real API server. A `local` stack in cluster
 * mode takes its kubeconfig from KUBECONFIG. Apply, rollback, out-of-band edits and deletions are
 * checked in the API server itself, not in Pulumi's state.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { startCli } from "../helpers/cli";
import { record } from "../helpers/pulumi";
import { createClusterRepo, type TestRepo } from "../helpers/repo";
import { startCluster, type Cluster } from "../fixtures/cluster";

const NS = "web-local";
const DEPLOYMENT = `/apis/apps/v1/namespaces/${NS}/deployments/web`;
const SERVICE = `/api/v1/namespaces/${NS}/services/web`;

describe("gitops against a live cluster", { timeout: 900_000 }, () => {
  let cluster: Cluster;
  let repo: TestRepo;
  // A cluster stack refuses the demo passphrase: this one is the user's own.
  const gitops = (...args: string[]) =>
    startCli(repo.dir, args, { KUBECONFIG: cluster.kubeconfigPath, PULUMI_CONFIG_PASSPHRASE: "local cluster passphrase" }).done;
  const image = async () => (await cluster.get(DEPLOYMENT)).spec.template.spec.containers[0].image as string;
  const setTag = (tag: string) => {
    repo.write("stacks/Pulumi.local.yaml", repo.read("stacks/Pulumi.local.yaml").replace(/tag: \S+/, `tag: ${tag}`));
    repo.commit(`release ${tag}`);
    repo.git("push", "-q", "origin", "main");
  };
  /** `gitops drift` as JSON: exit code and the local stack's result. */
  const drift = async (...extra: string[]) => {
    const r = await gitops("drift", "--stack", "local", "--json", "-", ...extra);
    return { code: r.code, stderr: r.stderr, result: r.stdout ? JSON.parse(r.stdout).stacks[0] : undefined };
  };

  before(async () => {
    cluster = await startCluster();
    repo = createClusterRepo();
  });
  after(async () => {
    await cluster?.stop();
    repo?.remove();
  });

  it("apply creates the namespace, quota, Deployment and Service with the declared image", async () => {
    const r = await gitops("apply");
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await cluster.get(`/api/v1/namespaces/${NS}`), "namespace");
    const quotas = await cluster.get(`/api/v1/namespaces/${NS}/resourcequotas`);
    assert.equal(quotas.items.length, 1, "one ResourceQuota");
    assert.equal(await image(), "ghcr.io/example/web:1.4.0-rc.2");
    assert.deepEqual(
      (await cluster.get(SERVICE)).spec.ports.map((p: { port: number; targetPort: string }) => [p.port, p.targetPort]),
      [[80, "http"]],
    );
    const clean = await drift();
    assert.equal(clean.code, 0, `no drift right after apply: ${JSON.stringify(clean.result?.changes)}\n${clean.stderr}`);
  });

  it("rollback restores the previous image in the API server", async () => {
    setTag("2.0.0");
    assert.equal((await gitops("apply")).code, 0);
    assert.equal(await image(), "ghcr.io/example/web:2.0.0");
    const r = await gitops("rollback", "--stack", "local", "--to", "previous", "--yes");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await image(), "ghcr.io/example/web:1.4.0-rc.2");
    assert.equal((await gitops("unpin", "--stack", "local")).code, 0);
    assert.equal((await gitops("apply")).code, 0);
    assert.equal(await image(), "ghcr.io/example/web:2.0.0");
  });

  it("an out-of-band scale and image change is drift, and --remediate undoes both", async () => {
    const declared = (await cluster.get(DEPLOYMENT)).spec.replicas as number;
    const scaled = await cluster.request("PUT", `${DEPLOYMENT}/scale`, {
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: { name: "web", namespace: NS },
      spec: { replicas: declared + 4 },
    });
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    // A read-modify-write, as `kubectl edit` does: the controllers may bump the object in between.
    let edited = { status: 409, body: {} as unknown };
    for (let attempt = 0; edited.status === 409 && attempt < 10; attempt++) {
      const dep = await cluster.get(DEPLOYMENT);
      dep.spec.template.spec.containers[0].image = "ghcr.io/example/web:hotfix-by-hand";
      edited = await cluster.request("PUT", DEPLOYMENT, dep);
    }
    assert.equal(edited.status, 200, JSON.stringify(edited.body));

    const found = await drift();
    assert.equal(found.code, 2, found.stderr);
    const change = found.result.changes.find((c: { type: string }) => c.type === "kubernetes:apps/v1:Deployment");
    assert.ok(change, `the Deployment is reported: ${JSON.stringify(found.result.changes)}`);
    const paths = change.diffs.map((d: { path: string }) => d.path).join(" ");
    assert.match(paths, /replicas/);
    assert.match(paths, /image/);

    const fixed = await gitops("drift", "--stack", "local", "--remediate");
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.equal(await image(), "ghcr.io/example/web:2.0.0");
    assert.equal((await cluster.get(DEPLOYMENT)).spec.replicas, declared);
    assert.equal(record(repo.dir, "local").command, "remediate");
    assert.equal((await drift()).code, 0);
  });

  it("a secret app.env value reaches the pods from a Secret, and stays out of the spec, the output and the state", async () => {
    const token = "tok-5f0c9e7a21";
    const set = await gitops(
      "pulumi",
      "--",
      "config",
      "set",
      "--secret",
      "--path",
      "--stack",
      "local",
      "pulumi-gitops:app.env.API_TOKEN",
      token,
    );
    assert.equal(set.code, 0, set.stderr);
    assert.match(repo.read("stacks/Pulumi.local.yaml"), /API_TOKEN:\n\s+secure: v1:/);
    repo.commit("an API token for the app");
    repo.git("push", "-q", "origin", "main");
    const r = await gitops("apply", "--json", "-");
    assert.equal(r.code, 0, r.stderr);
    const secret = await cluster.get(`/api/v1/namespaces/${NS}/secrets/web-env`);
    assert.equal(Buffer.from(secret.data.API_TOKEN, "base64").toString(), token);
    const env = (await cluster.get(DEPLOYMENT)).spec.template.spec.containers[0].env;
    assert.deepEqual(
      env.find((e: { name: string }) => e.name === "API_TOKEN"),
      { name: "API_TOKEN", valueFrom: { secretKeyRef: { name: "web-env", key: "API_TOKEN" } } },
    );
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(token));
    const files = (dir: string): string[] =>
      fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    const leaks = files(path.join(repo.dir, ".pulumi-gitops")).filter((f) => fs.readFileSync(f, "utf8").includes(token));
    assert.deepEqual(leaks, [], "state and backups hold the token encrypted only");
    assert.equal(repo.git("status", "--porcelain"), "");
  });

  it("a resource deleted by hand is drift, and --remediate recreates it", async () => {
    const deleted = await cluster.request("DELETE", SERVICE);
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    const found = await drift();
    assert.equal(found.code, 2, found.stderr);
    assert.ok(
      found.result.changes.some((c: { type: string; op: string }) => c.type === "kubernetes:core/v1:Service" && c.op === "delete"),
      JSON.stringify(found.result.changes),
    );
    const fixed = await gitops("drift", "--stack", "local", "--remediate");
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.ok(await cluster.get(SERVICE), "the Service is back");
    assert.equal((await drift()).code, 0);
  });

  it("an update the API server rejects shows the server's reason in the terminal", async () => {
    const good = repo.read("stacks/Pulumi.local.yaml");
    // `{ cpu: ` as committed, `{cpu: ` once the engine's `config set` (the secret above) rewrote the file.
    const bad = good.replace(/(containerDefaults:\n\s+requests: \{ ?cpu: )\S+,/, '$1"2",');
    assert.notEqual(bad, good, "the stack file still has containerDefaults to break");
    repo.write("stacks/Pulumi.local.yaml", bad);
    repo.commit("a default request above its limit");
    repo.git("push", "-q", "origin", "main");
    const r = await gitops("apply");
    assert.equal(r.code, 1, r.stderr);
    // The API server's own words for this LimitRange, on the error line itself.
    assert.match(
      r.stderr,
      /^error: local: [^\n]*LimitRange "defaults" is invalid: [^\n]*default request value 2 is greater than default limit value 200m$/m,
    );
    assert.match(r.stderr, /^hint: /m);
    assert.doesNotMatch(r.stderr, /error occurred:\s*$/m, "no bare multierror header");
    repo.write("stacks/Pulumi.local.yaml", good);
    repo.commit("default request back below its limit");
    repo.git("push", "-q", "origin", "main");
    assert.equal((await gitops("apply")).code, 0);
  });
});
