import { describe, it, beforeEach } from "node:test";
import * as assert from "node:assert/strict";
import {
  APPLY_ENVIRONMENT,
  branchSubject,
  DeployerRole,
  DeployerRoleArgs,
  environmentSubject,
  githubTrustPolicy,
  pullRequestSubject,
  READ_ONLY_POLICY_ARN,
} from "../../components/deployerRole";
import { ACCOUNT, byName, installMocks, ofType, Registered, settle, urnOf, valueOf } from "./harness";

const existing = `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;
const base: DeployerRoleArgs = {
  repository: "acme/infra",
  stateBucket: "acme-pulumi-state",
  applyPolicyArns: ["arn:aws:iam::aws:policy/PowerUserAccess"],
};

let resources: Registered[];
beforeEach(() => {
  resources = installMocks();
});

const trustOf = (r: Registered) => JSON.parse(r.inputs.assumeRolePolicy).Statement[0];

describe("subjects and trust", () => {
  const subjects: { name: string; fn: () => string; want?: string; error?: RegExp }[] = [
    { name: "drift branch", fn: () => branchSubject("acme/infra", "release/2026"), want: "repo:acme/infra:ref:refs/heads/release/2026" },
    { name: "wildcard branch", fn: () => branchSubject("acme/infra", "*"), error: /without wildcards/ },
    { name: "apply environment", fn: () => environmentSubject("acme/infra", "prod"), want: "repo:acme/infra:environment:prod" },
    { name: "wildcard environment", fn: () => environmentSubject("acme/infra", "*"), error: /without wildcards/ },
    { name: "repository without owner", fn: () => environmentSubject("infra", "prod"), error: /owner\/name/ },
    { name: "pull requests", fn: () => pullRequestSubject("acme/infra"), want: "repo:acme/infra:pull_request" },
    { name: "wildcard repository", fn: () => pullRequestSubject("acme/*"), error: /owner\/name/ },
  ];
  for (const s of subjects)
    it(s.name, () => {
      if (s.error) assert.throws(s.fn, s.error);
      else assert.equal(s.fn(), s.want);
    });

  it("trust policy pins issuer, audience and exact subject", () => {
    const doc = githubTrustPolicy(existing, "repo:acme/infra:environment:prod");
    assert.deepEqual(doc.Statement[0], {
      Effect: "Allow",
      Principal: { Federated: existing },
      Action: "sts:AssumeRoleWithWebIdentity",
      Condition: {
        StringEquals: {
          "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
          "token.actions.githubusercontent.com:sub": "repo:acme/infra:environment:prod",
        },
      },
    });
  });
});

describe("DeployerRole", () => {
  it("creates the OIDC provider and three roles: apply from the environment's jobs, read-only preview from PRs and drift from the branch", async () => {
    const d = new DeployerRole("ci", { ...base, environment: "prod", branch: "trunk", createOidcProvider: true });
    const providerArn = await valueOf(d.oidcProviderArn);
    await settle();
    const oidc = byName(resources, "ci-github-oidc").inputs;
    assert.equal(oidc.url, "https://token.actions.githubusercontent.com");
    assert.deepEqual(oidc.clientIdLists, ["sts.amazonaws.com"]);
    const apply = trustOf(byName(resources, "ci-apply"));
    const preview = trustOf(byName(resources, "ci-preview"));
    const drift = trustOf(byName(resources, "ci-drift"));
    assert.equal(apply.Principal.Federated, providerArn);
    assert.equal(apply.Condition.StringEquals["token.actions.githubusercontent.com:sub"], "repo:acme/infra:environment:prod");
    assert.equal(preview.Condition.StringEquals["token.actions.githubusercontent.com:sub"], "repo:acme/infra:pull_request");
    assert.equal(drift.Condition.StringEquals["token.actions.githubusercontent.com:sub"], "repo:acme/infra:ref:refs/heads/trunk");
    for (const t of [apply, preview, drift]) {
      assert.equal(t.Condition.StringEquals["token.actions.githubusercontent.com:aud"], "sts.amazonaws.com");
      assert.equal(t.Condition.StringLike, undefined);
    }
    const attachments = ofType(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment");
    const applyName = await valueOf(d.applyRole.name);
    const previewName = await valueOf(d.previewRole.name);
    const driftName = await valueOf(d.driftRole.name);
    for (const ro of [previewName, driftName])
      assert.deepEqual(
        attachments.filter((a) => a.inputs.role === ro).map((a) => a.inputs.policyArn),
        [READ_ONLY_POLICY_ARN],
      );
    assert.deepEqual(
      attachments.filter((a) => a.inputs.role === applyName).map((a) => a.inputs.policyArn),
      ["arn:aws:iam::aws:policy/PowerUserAccess"],
    );
    assert.match(await valueOf(d.applyRoleArn), /:role\/ci-apply/);
    // ReadOnlyAccess reads every bucket; the preview role's own policy takes the state bucket's objects
    // back. The drift role keeps them: drift reads the state, and only reviewed code runs on the branch.
    const inline = ofType(resources, "aws:iam/rolePolicy:RolePolicy");
    assert.deepEqual(
      inline.map((p) => p.inputs.role),
      [previewName],
    );
    assert.deepEqual(JSON.parse(inline[0].inputs.policy).Statement, [
      { Effect: "Deny", Action: "s3:GetObject*", Resource: "arn:aws:s3:::acme-pulumi-state/*" },
    ]);
    assert.match(await urnOf(d.applyRole), /pulumi-gitops:aws:DeployerRole\$aws:iam\/role:Role::ci-apply$/);
  });

  it("reuses an existing OIDC provider by ARN without creating one", async () => {
    const d = new DeployerRole("ci", { ...base, oidcProviderArn: existing });
    await settle();
    assert.equal(ofType(resources, "aws:iam/openIdConnectProvider:OpenIdConnectProvider").length, 0);
    assert.equal(await valueOf(d.oidcProviderArn), existing);
    assert.equal(trustOf(byName(resources, "ci-apply")).Principal.Federated, existing);
    // By default the shipped apply workflow's environment.
    assert.equal(APPLY_ENVIRONMENT, "pulumi-gitops-apply");
    assert.equal(
      trustOf(byName(resources, "ci-apply")).Condition.StringEquals["token.actions.githubusercontent.com:sub"],
      "repo:acme/infra:environment:pulumi-gitops-apply",
    );
    assert.equal(
      trustOf(byName(resources, "ci-drift")).Condition.StringEquals["token.actions.githubusercontent.com:sub"],
      "repo:acme/infra:ref:refs/heads/main",
    );
  });

  const bad: { name: string; args: DeployerRoleArgs; error: RegExp }[] = [
    { name: "both OIDC options", args: { ...base, oidcProviderArn: existing, createOidcProvider: true }, error: /not both/ },
    { name: "neither OIDC option", args: { ...base }, error: /oidcProviderArn .* or createOidcProvider/ },
    { name: "no apply policy", args: { ...base, applyPolicyArns: [], createOidcProvider: true }, error: /at least one/ },
    { name: "wildcard branch", args: { ...base, branch: "release/*", createOidcProvider: true }, error: /without wildcards/ },
    { name: "wildcard environment", args: { ...base, environment: "prod-*", createOidcProvider: true }, error: /without wildcards/ },
    {
      name: "state bucket given as a URL",
      args: { ...base, stateBucket: "s3://acme-pulumi-state", createOidcProvider: true },
      error: /stateBucket/,
    },
  ];
  for (const b of bad)
    it(`rejects ${b.name} before registering anything`, async () => {
      assert.throws(() => new DeployerRole("ci", b.args), b.error);
      await settle();
      assert.deepEqual(resources, []);
    });
});
