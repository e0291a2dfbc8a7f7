import { describe, it, beforeEach } from "node:test";
import * as assert from "node:assert/strict";
import * as aws from "@pulumi/aws";
import { ArtifactBucket, denyInsecureTransportPolicy, lifecycleRules } from "../../components/artifactBucket";
import { byName, installMocks, ofType, Registered, settle, urnOf, valueOf } from "./harness";

let resources: Registered[];
beforeEach(() => {
  resources = installMocks();
});

describe("pure policy and rules", () => {
  it("denies every non-TLS request on the bucket and its objects", () => {
    const doc = denyInsecureTransportPolicy("arn:aws:s3:::b");
    assert.equal(doc.Statement.length, 1);
    const s = doc.Statement[0];
    assert.equal(s.Effect, "Deny");
    assert.equal(s.Principal, "*");
    assert.deepEqual(s.Resource, ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]);
    assert.deepEqual(s.Condition, { Bool: { "aws:SecureTransport": "false" } });
  });
  const table: {
    name: string;
    args: { noncurrentVersionRetentionDays: number; expirationDays?: number };
    ids?: string[];
    error?: RegExp;
  }[] = [
    {
      name: "retention only",
      args: { noncurrentVersionRetentionDays: 30 },
      ids: ["expire-noncurrent-versions", "abort-incomplete-uploads"],
    },
    {
      name: "with expiration",
      args: { noncurrentVersionRetentionDays: 30, expirationDays: 90 },
      ids: ["expire-noncurrent-versions", "abort-incomplete-uploads", "expire-current-objects"],
    },
    { name: "zero retention", args: { noncurrentVersionRetentionDays: 0 }, error: /noncurrentVersionRetentionDays/ },
    { name: "fractional expiration", args: { noncurrentVersionRetentionDays: 1, expirationDays: 1.5 }, error: /expirationDays/ },
  ];
  for (const t of table)
    it(`lifecycleRules: ${t.name}`, () => {
      if (t.error) return assert.throws(() => lifecycleRules(t.args), t.error);
      const rules = lifecycleRules(t.args);
      assert.deepEqual(
        rules.map((r) => r.id),
        t.ids,
      );
      assert.deepEqual(rules[0].noncurrentVersionExpiration, { noncurrentDays: t.args.noncurrentVersionRetentionDays });
      for (const r of rules) assert.equal(r.status, "Enabled");
    });
});

describe("ArtifactBucket", () => {
  it("is private, versioned, encrypted (SSE-S3 by default) and TLS-only", async () => {
    const b = new ArtifactBucket("art", { noncurrentVersionRetentionDays: 14 });
    const name = await valueOf(b.bucketName);
    await settle();
    assert.deepEqual(resources.map((r) => r.name).sort(), [
      "art",
      "art-bucket",
      "art-encryption",
      "art-lifecycle",
      "art-ownership",
      "art-policy",
      "art-public-access",
      "art-versioning",
    ]);
    const bucketId = "art-bucket-id";
    for (const r of resources.filter((x) => x.type.startsWith("aws:s3/") && x.type !== "aws:s3/bucket:Bucket"))
      assert.equal(r.inputs.bucket, bucketId, r.name);
    assert.equal(byName(resources, "art-bucket").inputs.forceDestroy, false);
    const pab = byName(resources, "art-public-access").inputs;
    for (const k of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) assert.equal(pab[k], true, k);
    assert.equal(byName(resources, "art-ownership").inputs.rule.objectOwnership, "BucketOwnerEnforced");
    assert.equal(byName(resources, "art-versioning").inputs.versioningConfiguration.status, "Enabled");
    assert.deepEqual(byName(resources, "art-encryption").inputs.rules[0].applyServerSideEncryptionByDefault, { sseAlgorithm: "AES256" });
    const policy = JSON.parse(byName(resources, "art-policy").inputs.policy);
    assert.deepEqual(policy, denyInsecureTransportPolicy(`arn:aws:s3:::${name}`));
    assert.match(await urnOf(b.bucket), /pulumi-gitops:aws:ArtifactBucket\$aws:s3\/bucket:Bucket::art-bucket$/);
  });

  it("uses SSE-KMS with a bucket key when a KMS key is given", async () => {
    const key = "arn:aws:kms:eu-west-1:123456789012:key/abc";
    new ArtifactBucket("art", { noncurrentVersionRetentionDays: 14, kmsKeyArn: key });
    await settle();
    const rule = byName(resources, "art-encryption").inputs.rules[0];
    assert.deepEqual(rule.applyServerSideEncryptionByDefault, { sseAlgorithm: "aws:kms", kmsMasterKeyId: key });
    assert.equal(rule.bucketKeyEnabled, true);
  });

  it("sends every child through the provider in its options", async () => {
    const provider = new aws.Provider("acct", { region: "eu-west-1" });
    new ArtifactBucket("art", { noncurrentVersionRetentionDays: 14 }, { provider });
    await settle();
    const children = resources.filter((r) => r.type.startsWith("aws:s3/"));
    assert.equal(children.length, 7);
    for (const r of children) assert.match(r.provider ?? "", /pulumi:providers:aws::acct::/, r.name);
  });

  it("rejects a bad retention before registering anything", async () => {
    assert.throws(() => new ArtifactBucket("art", { noncurrentVersionRetentionDays: -1 }), /noncurrentVersionRetentionDays/);
    await settle();
    assert.equal(ofType(resources, "aws:s3/bucket:Bucket").length, 0);
    assert.deepEqual(resources, []);
  });
});
