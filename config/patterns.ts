/**
 * Name rules shared by the stack schema, the runner and the components, each written once. Plain
 * regular expressions: the schema takes their `source`, code tests with them.
 */

/** RFC 1123 label: lower-case letters, digits and `-`, alphanumeric at both ends; see {@link DNS_LABEL_MAX}. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** The longest DNS label. */
export const DNS_LABEL_MAX = 63;

/** A Kubernetes name of a namespace, app or class: an RFC 1123 label. */
export function isDnsLabel(name: string): boolean {
  return DNS_LABEL.test(name) && name.length <= DNS_LABEL_MAX;
}

/** A plain git branch name, without wildcards (an OIDC subject, the agent's branch). */
export const BRANCH = /^[A-Za-z0-9_./-]+$/;

/** A GitHub repository, `owner/name`. */
export const GITHUB_REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/** A GitHub environment name as an OIDC subject takes it: no wildcards, no spaces. */
export const GITHUB_ENVIRONMENT = /^[A-Za-z0-9_.-]{1,255}$/;

/** An S3 bucket name (3 to 63 lower-case letters, digits, `.` and `-`, alphanumeric at both ends). */
export const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** A container image digest: `sha256:` and 64 hex digits. */
export const IMAGE_DIGEST = /^sha256:[a-f0-9]{64}$/;

/** The engine's rule for a stack name (what `pulumi stack init` accepts). */
export const STACK_NAME = /^[A-Za-z0-9_.-]{1,100}$/;
