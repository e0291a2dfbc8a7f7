/**
 * The shipped drift schedules, executed: .github/workflows/drift.yml by act on a schedule event and
 * .gitlab-ci.yml's drift job by gitlab-ci-local as a scheduled pipeline of main, both against a stack
 * deployed to a real API server (provision/test-cluster.sh) and scaled by hand afterwards. The
 * kubeconfig reaches the jobs as KUBECONFIG, as a self-hosted runner's environment would give it;
 * state and passphrase as the README tells users. Drift must turn each job red and say where.
 */
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { runWorkflow } from "../fixtures/act";
import { startCluster, type Cluster } from "../fixtures/cluster";
import { runGitlabJob } from "../fixtures/gitlabCiLocal";
import { startCli } from "../helpers/cli";
import { createClusterRepo, type TestRepo } from "../helpers/repo";

const DEPLOYMENT = "/apis/apps/v1/namespaces/web-local/deployments/web";

describe("the drift schedules, run by act and gitlab-ci-local against a live cluster", { timeout: 1_800_000 }, () => {
  let cluster: Cluster;
  let repo: TestRepo;
  let tmp: string;
  let backend: string;
  let passphraseFile: string;
  const passphrase = crypto.randomBytes(12).toString("hex");

  before(async () => {
    cluster = await startCluster();
    repo = createClusterRepo();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-drift-ci-"));
    backend = `file://${path.join(tmp, "state")}`;
    fs.mkdirSync(path.join(tmp, "state"));
    passphraseFile = path.join(tmp, "passphrase");
    fs.writeFileSync(passphraseFile, passphrase);

    const env = { KUBECONFIG: cluster.kubeconfigPath, PULUMI_BACKEND_URL: backend, PULUMI_CONFIG_PASSPHRASE: passphrase };
    const applied = await startCli(repo.dir, ["apply"], env).done;
    assert.equal(applied.code, 0, applied.stderr);
    const clean = await startCli(repo.dir, ["drift"], env).done;
    assert.equal(clean.code, 0, `no drift right after apply: ${clean.stderr}`);
    // Out of band, as `kubectl scale` does.
    const declared = (await cluster.get(DEPLOYMENT)).spec.replicas as number;
    const scaled = await cluster.request("PUT", `${DEPLOYMENT}/scale`, {
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: { name: "web", namespace: "web-local" },
      spec: { replicas: declared + 2 },
    });
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    // The jobs run `npm ci` in their own checkout, as on a runner.
    fs.unlinkSync(path.join(repo.dir, "node_modules"));
  });
  after(async () => {
    await cluster?.stop();
    repo?.remove();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("drift.yml fails its job and names the drifted stack", async () => {
    const r = await runWorkflow({
      cwd: repo.dir,
      workflow: ".github/workflows/drift.yml",
      event: "schedule",
      payload: { schedule: "23 */6 * * *" },
      instance: "github.com",
      env: { KUBECONFIG: cluster.kubeconfigPath },
      vars: { PULUMI_BACKEND_URL: backend },
      secrets: { PULUMI_CONFIG_PASSPHRASE: passphrase },
    });
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /\[pulumi-gitops drift\/drift\]\s+❌ {2}Failure - Main npm run --silent ci:drift/);
    assert.match(r.output, /local: drift in 1 resource\(s\)/);
  });

  it("the scheduled GitLab pipeline fails its drift job and keeps the report naming the resource and property", async () => {
    const r = await runGitlabJob(repo.dir, "drift", {
      CI_PIPELINE_SOURCE: "schedule",
      CI_COMMIT_BRANCH: "main",
      KUBECONFIG: cluster.kubeconfigPath,
      PULUMI_BACKEND_URL: backend,
      PULUMI_CONFIG_PASSPHRASE_FILE: passphraseFile,
    });
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /local: drift in 1 resource\(s\)/);
    const report = fs.readFileSync(path.join(repo.dir, "drift-report.md"), "utf8");
    assert.match(report, /\| local \| 0 \| 1 \| 0 \| 0 \| \d+ \| drift \|/);
    assert.match(report, /kubernetes:apps\/v1:Deployment <b>web-deployment<\/b>[\s\S]*\| spec\.replicas \| update \| `1` \| `3` \|/);
  });
});
