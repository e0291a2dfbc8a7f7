/**
 * The project's policy pack (Pulumi CrossGuard). `gitops preview` and `gitops apply` run it on
 * every stack: a mandatory violation fails the preview and refuses the apply; an advisory one is a
 * warning. Each policy checks the whole stack, as its rules link resources (a bucket and its
 * policy, a Deployment and its namespace's quota, a role and its attachments).
 */
import { PolicyPack, type EnforcementLevel, type StackValidationPolicy } from "@pulumi/policy";
import * as rules from "./rules";

/** One stack policy per rule; each violation is reported on the resource it is about. */
function stackPolicy(
  name: string,
  description: string,
  enforcementLevel: EnforcementLevel,
  rule: (rs: readonly rules.Resource[]) => rules.Violation[],
): StackValidationPolicy {
  return {
    name,
    description,
    enforcementLevel,
    validateStack: (args, reportViolation) => {
      for (const v of rule(args.resources)) reportViolation(v.message, v.resource.urn);
    },
  };
}

const policies: StackValidationPolicy[] = [
  stackPolicy(
    "no-public-buckets",
    "S3 buckets are private: a full public access block, no public ACL or policy, TLS only.",
    "mandatory",
    rules.noPublicBuckets,
  ),
  stackPolicy(
    "containers-hardened",
    "Containers run as non-root, without privilege escalation or capabilities, with CPU and memory limits.",
    "mandatory",
    rules.containersHardened,
  ),
  stackPolicy(
    "deployments-in-quotaed-namespaces",
    "Every Deployment is in a namespace that has a ResourceQuota.",
    "mandatory",
    rules.deploymentsInQuotaedNamespaces,
  ),
  stackPolicy(
    "privileged-roles-not-from-pull-requests",
    "Roles with more than read-only rights trust only exact branch or environment subjects.",
    "mandatory",
    rules.privilegedRolesNotFromPullRequests,
  ),
  stackPolicy("containers-probed", "Long-running containers have liveness and readiness probes.", "advisory", rules.containersProbed),
];

new PolicyPack("pulumi-gitops", { policies });
