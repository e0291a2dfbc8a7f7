import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { BRANCH, GITHUB_ENVIRONMENT, GITHUB_REPOSITORY, S3_BUCKET } from "../config/patterns";

/** GitHub Actions' OIDC issuer. */
export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";
/** The audience GitHub's aws-actions/configure-aws-credentials requests. */
export const STS_AUDIENCE = "sts.amazonaws.com";
/** AWS's managed read-only policy, attached to the preview role. */
export const READ_ONLY_POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess";

/**
 * The GitHub environment of the shipped apply job (.github/workflows/apply.yml says
 * `environment: pulumi-gitops-apply`; test/pipelines/pipelines.test.ts checks they agree).
 */
export const APPLY_ENVIRONMENT = "pulumi-gitops-apply";

/**
 * `sub` claim of a workflow job that runs in `environment` of `repository` (no wildcards accepted).
 * GitHub gives a job with `environment:` this subject instead of its branch's, and only after the
 * environment's protection rules (required reviewers, deployment branches) let it run.
 */
export function environmentSubject(repository: string, environment: string): string {
  if (!GITHUB_REPOSITORY.test(repository)) throw new Error(`repository must be owner/name (got ${JSON.stringify(repository)})`);
  if (!GITHUB_ENVIRONMENT.test(environment))
    throw new Error(`environment must be a plain GitHub environment name without wildcards (got ${JSON.stringify(environment)})`);
  return `repo:${repository}:environment:${environment}`;
}

/** `sub` claim of a workflow job on `branch` of `repository` without an environment (no wildcards accepted). */
export function branchSubject(repository: string, branch: string): string {
  if (!GITHUB_REPOSITORY.test(repository)) throw new Error(`repository must be owner/name (got ${JSON.stringify(repository)})`);
  if (!BRANCH.test(branch)) throw new Error(`branch must be a plain branch name without wildcards (got ${JSON.stringify(branch)})`);
  return `repo:${repository}:ref:refs/heads/${branch}`;
}

/** `sub` claim of a workflow run for a pull request of `repository`. */
export function pullRequestSubject(repository: string): string {
  if (!GITHUB_REPOSITORY.test(repository)) throw new Error(`repository must be owner/name (got ${JSON.stringify(repository)})`);
  return `repo:${repository}:pull_request`;
}

/**
 * Trust policy letting GitHub Actions assume a role through OIDC, only with the exact `sub` given
 * (StringEquals: no wildcard matching) and audience sts.amazonaws.com.
 */
export function githubTrustPolicy(providerArn: string, subject: string) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: providerArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${GITHUB_OIDC_HOST}:aud`]: STS_AUDIENCE,
            [`${GITHUB_OIDC_HOST}:sub`]: subject,
          },
        },
      },
    ],
  };
}

/**
 * Policy denying every object read (`s3:GetObject*`) in the state bucket. Attached to the preview
 * role, it wins over ReadOnlyAccess: a pull_request run executes the branch's own workflow and code,
 * so whatever its role reads, anyone who can push a branch reads, and the state holds every output.
 */
export function denyStateReadPolicy(stateBucket: string) {
  return {
    Version: "2012-10-17",
    Statement: [{ Effect: "Deny", Action: "s3:GetObject*", Resource: `arn:aws:s3:::${stateBucket}/*` }],
  };
}

export interface DeployerRoleArgs {
  /** GitHub repository, `owner/name`. */
  readonly repository: string;
  /** The GitHub environment whose jobs may apply. Default {@link APPLY_ENVIRONMENT}, the shipped apply job's. */
  readonly environment?: string;
  /** The protected branch, whose scheduled drift checks (.github/workflows/drift.yml) may read. Default `main`. */
  readonly branch?: string;
  /** Name of the S3 bucket holding the Pulumi state (`PULUMI_BACKEND_URL`); the preview role may not read its objects. */
  readonly stateBucket: string;
  /** Managed policies granting the apply role its rights (at least one). */
  readonly applyPolicyArns: readonly pulumi.Input<string>[];
  /** ARN of the account's existing GitHub OIDC provider. Exactly one of this and `createOidcProvider`. */
  readonly oidcProviderArn?: pulumi.Input<string>;
  /** Create the account's GitHub OIDC provider (an account can hold only one for the issuer). */
  readonly createOidcProvider?: boolean;
  /** Maximum session length of both roles in seconds. Default 3600. */
  readonly maxSessionDuration?: number;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/**
 * Least-privilege deployer identities for GitHub Actions: an apply role only jobs in the apply
 * environment can assume, a read-only preview role for pull requests of the same repository that
 * cannot read the state bucket's objects, and a read-only drift role for the protected branch's
 * scheduled drift checks, which may (they run reviewed code only).
 */
export class DeployerRole extends pulumi.ComponentResource {
  /** ARN of the GitHub OIDC provider the roles trust. */
  public readonly oidcProviderArn: pulumi.Output<string>;
  /** ARN of the apply role (jobs in the apply environment only). */
  public readonly applyRoleArn: pulumi.Output<string>;
  /** ARN of the read-only preview role (pull requests). */
  public readonly previewRoleArn: pulumi.Output<string>;
  /** ARN of the read-only drift role (the protected branch's jobs without an environment). */
  public readonly driftRoleArn: pulumi.Output<string>;
  public readonly applyRole: aws.iam.Role;
  public readonly previewRole: aws.iam.Role;
  public readonly driftRole: aws.iam.Role;

  constructor(name: string, args: DeployerRoleArgs, opts: pulumi.ComponentResourceOptions = {}) {
    const byArn = args.oidcProviderArn !== undefined;
    const create = args.createOidcProvider === true;
    if (byArn && create) throw new Error("set exactly one of oidcProviderArn and createOidcProvider, not both");
    if (!byArn && !create) throw new Error("set oidcProviderArn (an existing GitHub OIDC provider) or createOidcProvider: true");
    if (args.applyPolicyArns.length === 0) throw new Error("applyPolicyArns must name at least one policy");
    if (!S3_BUCKET.test(args.stateBucket))
      throw new Error(`stateBucket must be an S3 bucket name (got ${JSON.stringify(args.stateBucket)})`);
    const environment = args.environment ?? APPLY_ENVIRONMENT;
    const applySub = environmentSubject(args.repository, environment);
    const previewSub = pullRequestSubject(args.repository);
    const branch = args.branch ?? "main";
    const driftSub = branchSubject(args.repository, branch);
    super("pulumi-gitops:aws:DeployerRole", name, {}, opts);
    const child = { parent: this };

    this.oidcProviderArn = create
      ? new aws.iam.OpenIdConnectProvider(
          `${name}-github-oidc`,
          { url: `https://${GITHUB_OIDC_HOST}`, clientIdLists: [STS_AUDIENCE], tags: args.tags },
          child,
        ).arn
      : pulumi.output(args.oidcProviderArn!);

    const role = (roleName: string, subject: string, description: string) =>
      new aws.iam.Role(
        `${name}-${roleName}`,
        {
          description,
          assumeRolePolicy: this.oidcProviderArn.apply((arn) => JSON.stringify(githubTrustPolicy(arn, subject))),
          maxSessionDuration: args.maxSessionDuration ?? 3600,
          tags: args.tags,
        },
        child,
      );
    this.applyRole = role("apply", applySub, `Applies infrastructure from ${args.repository}, environment ${environment}`);
    this.previewRole = role("preview", previewSub, `Read-only previews for pull requests of ${args.repository}`);
    this.driftRole = role("drift", driftSub, `Read-only drift checks of ${args.repository}@${branch}`);

    args.applyPolicyArns.forEach(
      (policyArn, i) => new aws.iam.RolePolicyAttachment(`${name}-apply-policy-${i}`, { role: this.applyRole.name, policyArn }, child),
    );
    new aws.iam.RolePolicyAttachment(`${name}-preview-readonly`, { role: this.previewRole.name, policyArn: READ_ONLY_POLICY_ARN }, child);
    new aws.iam.RolePolicy(
      `${name}-preview-deny-state`,
      { role: this.previewRole.name, policy: JSON.stringify(denyStateReadPolicy(args.stateBucket)) },
      child,
    );
    new aws.iam.RolePolicyAttachment(`${name}-drift-readonly`, { role: this.driftRole.name, policyArn: READ_ONLY_POLICY_ARN }, child);

    this.applyRoleArn = this.applyRole.arn;
    this.previewRoleArn = this.previewRole.arn;
    this.driftRoleArn = this.driftRole.arn;
    this.registerOutputs({
      oidcProviderArn: this.oidcProviderArn,
      applyRoleArn: this.applyRoleArn,
      previewRoleArn: this.previewRoleArn,
      driftRoleArn: this.driftRoleArn,
    });
  }
}
