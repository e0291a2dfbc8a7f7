/**
 * The policy pack (policy/) gates pull requests and deploys: the real engine runs the real pack on
 * a real git repository made from this project's files.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { previewComment, previewStatus } from "../../runner/forge/publish";
import { gitops } from "../helpers/cli";
import { resources } from "../helpers/pulumi";
import { createRepo, renderStackYaml, type TestRepo } from "../helpers/repo";

const HARDENED = "components/kubernetes.ts";
const WEB = "components/webService.ts";

describe("the policy pack", () => {
  let repo: TestRepo;
  before(() => (repo = createRepo(["dev"])));
  after(() => repo.remove());

  it("fails the preview of a pull request with a mandatory violation, naming the resource and the policy", async () => {
    repo.git("checkout", "-q", "-b", "escalate");
    repo.write(HARDENED, repo.read(HARDENED).replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"));
    repo.commit("let the web container escalate");
    const report = path.join(repo.dir, "..", "violation.md");
    const r = await gitops(repo.dir, "preview", "--report", report, "--json", "-");
    assert.equal(r.code, 1, r.stderr);
    const [dev] = JSON.parse(r.stdout).stacks;
    assert.equal(dev.status, "failed");
    const violation = dev.policies.find((v: { policy: string }) => v.policy === "containers-hardened");
    assert.ok(violation, JSON.stringify(dev.policies));
    assert.equal(violation.level, "mandatory");
    assert.equal(violation.type, "kubernetes:apps/v1:Deployment");
    assert.equal(violation.resource, "web-deployment");
    assert.match(violation.message, /container web allows privilege escalation/);
    assert.match(
      r.stderr,
      /^error: dev: 1 mandatory policy violation\(s\):\n {2}containers-hardened on kubernetes:apps\/v1:Deployment web-deployment: container web allows privilege escalation$/m,
    );
    const md = fs.readFileSync(report, "utf8");
    assert.match(md, /\*\*Policy violations\*\*/);
    assert.match(
      md,
      /- ❌ `containers-hardened` \(mandatory\) on kubernetes:apps\/v1:Deployment \*\*web-deployment\*\*: container web allows privilege escalation/,
    );
    // The pull request's comment is that report; its commit status names the policy.
    const out = { commit: repo.git("rev-parse", "HEAD"), results: [dev], unaffected: [] };
    assert.match(previewComment({ marker: "<!-- m -->", maxChars: 60_000 }, out), /`containers-hardened` \(mandatory\).*web-deployment/);
    assert.deepEqual(previewStatus(out, undefined), {
      state: "failure",
      context: "pulumi-gitops/preview",
      description: "failed: dev (policy violated: containers-hardened)",
      targetUrl: undefined,
    });
  });

  it("reports an advisory violation as a warning and does not fail the preview", async () => {
    repo.git("checkout", "-q", "main");
    repo.git("checkout", "-q", "-b", "no-liveness");
    repo.write(WEB, repo.read(WEB).replace("livenessProbe: probe(3),", ""));
    repo.commit("drop the liveness probe");
    const report = path.join(repo.dir, "..", "advisory.md");
    const r = await gitops(repo.dir, "preview", "--report", report, "--json", "-");
    assert.equal(r.code, 0, r.stderr);
    const [dev] = JSON.parse(r.stdout).stacks;
    assert.equal(dev.status, "succeeded");
    assert.deepEqual(
      dev.policies.map((v: { policy: string; level: string; resource: string; message: string }) => [
        v.policy,
        v.level,
        v.resource,
        v.message,
      ]),
      [["containers-probed", "advisory", "web-deployment", "container web has no livenessProbe"]],
    );
    assert.match(r.stderr, /warning: policy containers-probed \(advisory\) on kubernetes:apps\/v1:Deployment web-deployment/);
    const md = fs.readFileSync(report, "utf8");
    assert.match(
      md,
      /\*\*Policy warnings\*\* \(advisory\)\n\n- ⚠️ `containers-probed` \(advisory\) on kubernetes:apps\/v1:Deployment \*\*web-deployment\*\*/,
    );
    assert.doesNotMatch(md, /Policy violations/);
    const out = { commit: repo.git("rev-parse", "HEAD"), results: [dev], unaffected: [] };
    assert.equal(previewStatus(out, undefined).state, "success");
    assert.match(previewStatus(out, undefined).description, /; policy warnings: containers-probed$/);
  });

  it("runs a pull request's own pack: a policy it adds applies to every stack at once", async () => {
    repo.git("checkout", "-q", "main");
    repo.git("checkout", "-q", "-b", "two-replicas");
    const pack = "policy/index.ts";
    const rule =
      'policies.push(stackPolicy("two-replicas", "Deployments run at least two replicas.", "mandatory", (rs) =>\n' +
      '  rs.filter((r) => r.type === "kubernetes:apps/v1:Deployment" && (r.props.spec?.replicas ?? 1) < 2).map((resource) => ({ resource, message: "runs fewer than two replicas" })),\n' +
      "));\n";
    repo.write(pack, repo.read(pack).replace('new PolicyPack("pulumi-gitops"', rule + 'new PolicyPack("pulumi-gitops"'));
    repo.commit("require two replicas");
    const r = await gitops(repo.dir, "preview", "--json", "-");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /affects dev/);
    const [dev] = JSON.parse(r.stdout).stacks;
    assert.deepEqual(
      dev.policies.map((v: { policy: string; resource: string; message: string }) => [v.policy, v.resource, v.message]),
      [["two-replicas", "web-deployment", "runs fewer than two replicas"]],
    );
  });

  it("refuses to apply a mandatory violation on main and deploys nothing", async () => {
    repo.git("checkout", "-q", "main");
    repo.write(HARDENED, repo.read(HARDENED).replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"));
    // staging requires a reviewed preview (stacks/gitops.yaml's default): apply previews it before anything else.
    repo.write("stacks/Pulumi.staging.yaml", renderStackYaml("staging"));
    repo.commit("a direct push that lets the web container escalate");
    repo.git("push", "-q", "origin", "main");
    const r = await gitops(repo.dir, "apply", "--stack", "dev", "--json", "-");
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /error: refusing to deploy [0-9a-f]{7} to dev: it violates mandatory policies \(containers-hardened\)/);
    assert.match(
      r.stderr,
      /^ {2}containers-hardened on kubernetes:apps\/v1:Deployment web-deployment: container web allows privilege escalation$/m,
    );
    const [dev] = JSON.parse(r.stdout).stacks;
    assert.equal(dev.status, "failed");
    assert.equal(dev.policies[0].policy, "containers-hardened");
    assert.deepEqual(resources(repo.dir, "dev"), [], "nothing was deployed");
    assert.equal(fs.existsSync(path.join(repo.dir, "rendered", "dev")), false, "no manifest was rendered");

    // staging requires review: its apply-time preview runs the pack and is refused the same way.
    const staging = await gitops(repo.dir, "apply", "--stack", "staging", "--json", "-");
    assert.equal(staging.code, 3, staging.stderr);
    assert.match(
      staging.stderr,
      /error: refusing to deploy [0-9a-f]{7} to staging: it violates mandatory policies \(containers-hardened\)/,
    );
    assert.equal(JSON.parse(staging.stdout).stacks[0].policies[0].policy, "containers-hardened");
    assert.deepEqual(resources(repo.dir, "staging"), [], "nothing was deployed");
  });
});
