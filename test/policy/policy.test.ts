import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import { readStackFile, toEngineConfig } from "../../config";
import { runProgram, StackOutputs } from "../../program";
import { installMocks, ofType, policyViolations, Registered, settle, valueOf } from "../components/harness";
import {
  containersHardened,
  containersProbed,
  deploymentsInQuotaedNamespaces,
  noPublicBuckets,
  privilegedRolesNotFromPullRequests,
  type Resource,
  type Violation,
} from "../../policy/rules";

const repoRoot = path.join(__dirname, "..", "..");

const check = (rule: (rs: readonly Resource[]) => Violation[], rs: readonly Registered[]) => policyViolations(rs, rule);
const ctx = { root: "/repo", home: "/home/ci" };

/** Runs the whole program for `stack` the way the engine would: its YAML, as engine config. */
async function runStack(stack: string): Promise<{ resources: Registered[]; out: StackOutputs }> {
  const resources = installMocks(stack);
  const { values, problems } = readStackFile(repoRoot, stack);
  assert.deepEqual(problems, []);
  pulumi.runtime.setAllConfig(toEngineConfig(values));
  const out = runProgram(stack, pulumi.runtime.allConfig(), ctx);
  await settle();
  return { resources, out };
}

describe("every stack passes every policy of the pack", () => {
  for (const stack of ["dev", "staging", "prod"])
    it(stack, async () => {
      const { resources } = await runStack(stack);
      assert.deepEqual(policyViolations(resources), []);
      // The checks must have had something to look at.
      assert.equal(ofType(resources, "kubernetes:apps/v1:Deployment").length, 1);
      assert.equal(ofType(resources, "kubernetes:core/v1:ResourceQuota").length, 1);
      if (stack !== "dev") {
        assert.equal(ofType(resources, "aws:s3/bucket:Bucket").length, 1);
        assert.equal(ofType(resources, "aws:iam/role:Role").length, 3);
      }
    });
});

describe("per-environment program", () => {
  it("dev renders to GITOPS_ROOT-relative rendered/dev and creates no AWS resources", async () => {
    const { resources, out } = await runStack("dev");
    const [provider] = ofType(resources, "pulumi:providers:kubernetes");
    assert.equal(provider.inputs.renderYamlToDirectory, path.join("/repo", "rendered/dev"));
    assert.equal(provider.inputs.enableConfigMapMutable, "true");
    assert.deepEqual(
      resources.filter((r) => r.type.startsWith("aws:") || r.type === "pulumi:providers:aws"),
      [],
    );
    assert.equal(out.bucketName, undefined);
    assert.equal(out.replicas, 1);
    assert.equal(await valueOf(out.url), "http://web.web-dev.svc.cluster.local");
    assert.equal(ofType(resources, "kubernetes:networking.k8s.io/v1:Ingress").length, 0);
  });

  it("staging targets its cluster and region, with fixed replicas and an Ingress", async () => {
    const { resources, out } = await runStack("staging");
    const [kube] = ofType(resources, "pulumi:providers:kubernetes");
    assert.equal(kube.inputs.kubeconfig, "/home/ci/.kube/staging.yaml");
    assert.equal(kube.inputs.context, "staging");
    assert.equal(kube.inputs.renderYamlToDirectory, undefined);
    assert.equal(ofType(resources, "pulumi:providers:aws")[0].inputs.region, "eu-west-1");
    assert.equal(ofType(resources, "kubernetes:apps/v1:Deployment")[0].inputs.spec.replicas, 2);
    assert.equal(ofType(resources, "aws:iam/openIdConnectProvider:OpenIdConnectProvider").length, 1);
    assert.equal(out.image, "ghcr.io/example/web:1.4.0");
    assert.match(await valueOf(out.applyRoleArn!), /:role\/staging-deployer-apply/);
    assert.equal(await valueOf(out.bucketName!), "staging-artifacts-bucket-a1b2c3");
  });

  it("prod autoscales, pins the image by digest, uses KMS and an existing OIDC provider", async () => {
    const { resources, out } = await runStack("prod");
    const [kube] = ofType(resources, "pulumi:providers:kubernetes");
    assert.equal(kube.inputs.kubeconfig, undefined, "absent kubeconfig = provider default / KUBECONFIG");
    assert.equal(ofType(resources, "kubernetes:apps/v1:Deployment")[0].inputs.spec.replicas, undefined);
    assert.equal(ofType(resources, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")[0].inputs.spec.maxReplicas, 12);
    assert.match(out.image, /@sha256:[0-9a-f]{64}$/);
    assert.deepEqual([out.replicas, out.maxReplicas], [3, 12]);
    assert.equal(ofType(resources, "aws:iam/openIdConnectProvider:OpenIdConnectProvider").length, 0);
    assert.equal(
      ofType(resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[0].inputs.rules[0]
        .applyServerSideEncryptionByDefault.sseAlgorithm,
      "aws:kms",
    );
  });
});

describe("the policy pack's rules catch violations", () => {
  it("a public, unencrypted-transport bucket", async () => {
    const resources = installMocks("neg");
    const b = new aws.s3.Bucket("open", {});
    new aws.s3.BucketPublicAccessBlock("open-pab", {
      bucket: b.id,
      blockPublicAcls: true,
      blockPublicPolicy: false,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new aws.s3.BucketPolicy("open-policy", {
      bucket: b.id,
      policy: JSON.stringify({ Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "*" }] }),
    });
    await settle();
    assert.deepEqual(
      check(noPublicBuckets, resources).map((v) => v.message),
      [
        "no public access block with all four settings true",
        "bucket policy allows a public principal",
        "bucket policy does not deny non-TLS access",
      ],
    );
  });

  it("a root container without limits, in a namespace without quota", async () => {
    const resources = installMocks("neg");
    new k8s.apps.v1.Deployment("rooty", {
      metadata: { name: "rooty", namespace: "wild" },
      spec: {
        selector: { matchLabels: { a: "b" } },
        template: {
          metadata: { labels: { a: "b" } },
          spec: { containers: [{ name: "c", image: "x:1", securityContext: { runAsUser: 0 } }] },
        },
      },
    });
    await settle();
    assert.deepEqual(
      check(containersHardened, resources).map((v) => v.message),
      ["may run as root", "allows privilege escalation", "does not drop ALL capabilities", "has no CPU and memory limits"].map(
        (m) => `container c ${m}`,
      ),
    );
    assert.deepEqual(check(deploymentsInQuotaedNamespaces, resources), [
      { resource: "rooty", message: "namespace wild has no ResourceQuota" },
    ]);
    assert.deepEqual(check(containersProbed, resources), [
      { resource: "rooty", message: "container c has no livenessProbe and no readinessProbe" },
    ]);
  });

  const trusts: { name: string; condition: any; want: RegExp }[] = [
    {
      name: "pull requests",
      condition: {
        StringEquals: {
          "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
          "token.actions.githubusercontent.com:sub": "repo:acme/infra:pull_request",
        },
      },
      want: /assumable by repo:acme\/infra:pull_request/,
    },
    {
      name: "a wildcard subject",
      condition: {
        StringEquals: { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" },
        StringLike: { "token.actions.githubusercontent.com:sub": "repo:acme/infra:*" },
      },
      want: /StringLike/,
    },
    {
      name: "no subject at all",
      condition: { StringEquals: { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" } },
      want: /does not pin the token subject/,
    },
  ];
  for (const t of trusts)
    it(`a privileged role assumable from ${t.name}`, async () => {
      const resources = installMocks("neg");
      const role = new aws.iam.Role("apply", {
        assumeRolePolicy: JSON.stringify({
          Statement: [
            { Effect: "Allow", Principal: { Federated: "arn:x" }, Action: "sts:AssumeRoleWithWebIdentity", Condition: t.condition },
          ],
        }),
      });
      new aws.iam.RolePolicyAttachment("apply-admin", { role: role.name, policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" });
      await settle();
      const violations = check(privilegedRolesNotFromPullRequests, resources);
      assert.ok(
        violations.some((v) => v.resource === "apply" && t.want.test(v.message)),
        JSON.stringify(violations),
      );
    });

  it("the same trust is fine on a read-only role", async () => {
    const resources = installMocks("neg");
    const role = new aws.iam.Role("preview", {
      assumeRolePolicy: JSON.stringify({
        Statement: [{ Effect: "Allow", Action: "sts:AssumeRoleWithWebIdentity", Condition: trusts[0].condition }],
      }),
    });
    new aws.iam.RolePolicyAttachment("preview-ro", { role: role.name, policyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess" });
    await settle();
    assert.deepEqual(check(privilegedRolesNotFromPullRequests, resources), []);
  });
});
