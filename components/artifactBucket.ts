import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

export interface ArtifactBucketArgs {
  /** Days to keep non-current object versions before they expire. */
  readonly noncurrentVersionRetentionDays: number;
  /** Days after which current objects expire; absent = never. */
  readonly expirationDays?: number;
  /** KMS key for SSE-KMS; absent = SSE-S3 (AES256). */
  readonly kmsKeyArn?: pulumi.Input<string>;
  /** Allow `pulumi destroy` to delete a non-empty bucket. Default false. */
  readonly forceDestroy?: boolean;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** Bucket policy denying every request that does not use TLS. */
export function denyInsecureTransportPolicy(bucketArn: string) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  };
}

/** Lifecycle rules: expire old versions, abort stale multipart uploads, optionally expire objects. */
export function lifecycleRules(args: Pick<ArtifactBucketArgs, "noncurrentVersionRetentionDays" | "expirationDays">) {
  if (!(Number.isInteger(args.noncurrentVersionRetentionDays) && args.noncurrentVersionRetentionDays >= 1))
    throw new Error("noncurrentVersionRetentionDays must be a positive integer");
  if (args.expirationDays !== undefined && !(Number.isInteger(args.expirationDays) && args.expirationDays >= 1))
    throw new Error("expirationDays must be a positive integer");
  const rules: aws.types.input.s3.BucketLifecycleConfigurationRule[] = [
    {
      id: "expire-noncurrent-versions",
      status: "Enabled",
      filter: {},
      noncurrentVersionExpiration: { noncurrentDays: args.noncurrentVersionRetentionDays },
    },
    { id: "abort-incomplete-uploads", status: "Enabled", filter: {}, abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } },
  ];
  if (args.expirationDays !== undefined)
    rules.push({ id: "expire-current-objects", status: "Enabled", filter: {}, expiration: { days: args.expirationDays } });
  return rules;
}

/**
 * A private, versioned, encrypted S3 bucket for build artifacts: public access blocked, ACLs
 * disabled (BucketOwnerEnforced), TLS required, old versions expired.
 */
export class ArtifactBucket extends pulumi.ComponentResource {
  /** The bucket's name. */
  public readonly bucketName: pulumi.Output<string>;
  /** The bucket's ARN. */
  public readonly arn: pulumi.Output<string>;
  public readonly bucket: aws.s3.Bucket;

  constructor(name: string, args: ArtifactBucketArgs, opts: pulumi.ComponentResourceOptions = {}) {
    const rules = lifecycleRules(args); // throws on bad retention before anything is registered
    super("pulumi-gitops:aws:ArtifactBucket", name, {}, opts);
    const child = { parent: this };

    this.bucket = new aws.s3.Bucket(`${name}-bucket`, { forceDestroy: args.forceDestroy ?? false, tags: args.tags }, child);
    const bucket = this.bucket.id;

    const ownership = new aws.s3.BucketOwnershipControls(
      `${name}-ownership`,
      { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } },
      child,
    );
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      { bucket, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      child,
    );
    new aws.s3.BucketVersioning(`${name}-versioning`, { bucket, versioningConfiguration: { status: "Enabled" } }, child);
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket,
        rules: [
          {
            applyServerSideEncryptionByDefault: args.kmsKeyArn
              ? { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn }
              : { sseAlgorithm: "AES256" },
            bucketKeyEnabled: args.kmsKeyArn ? true : undefined,
          },
        ],
      },
      child,
    );
    new aws.s3.BucketLifecycleConfiguration(`${name}-lifecycle`, { bucket, rules }, child);
    new aws.s3.BucketPolicy(
      `${name}-policy`,
      { bucket, policy: this.bucket.arn.apply((arn) => JSON.stringify(denyInsecureTransportPolicy(arn))) },
      // S3 rejects policy writes racing the public access block / ownership changes.
      { parent: this, dependsOn: [publicAccess, ownership] },
    );

    this.bucketName = this.bucket.bucket;
    this.arn = this.bucket.arn;
    this.registerOutputs({ bucketName: this.bucketName, arn: this.arn });
  }
}
