/**
 * Policy checks over the resources a program registered (as recorded by the mocks). Each returns
 * the violations it finds; an empty list means the program complies.
 */
import type { Registered } from "../components/harness";

export interface Violation {
  resource: string;
  message: string;
}

const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const POD_OWNERS: Record<string, (inputs: any) => any> = {
  "kubernetes:apps/v1:Deployment": (i) => i.spec?.template?.spec,
  "kubernetes:apps/v1:StatefulSet": (i) => i.spec?.template?.spec,
  "kubernetes:apps/v1:DaemonSet": (i) => i.spec?.template?.spec,
  "kubernetes:batch/v1:Job": (i) => i.spec?.template?.spec,
  "kubernetes:core/v1:Pod": (i) => i.spec,
};

const parse = (doc: unknown) => (typeof doc === "string" ? JSON.parse(doc) : doc) as { Statement?: any[] };
const asList = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);
const isPublicPrincipal = (p: any) => p === "*" || asList(p?.AWS).includes("*");

/** No bucket may be public: full public access block, no public ACL, no policy granting `*`, TLS enforced. */
export function noPublicBuckets(rs: readonly Registered[]): Violation[] {
  const out: Violation[] = [];
  for (const b of rs.filter((r) => r.type === "aws:s3/bucket:Bucket")) {
    const mine = (type: string) => rs.filter((r) => r.type === type && r.inputs.bucket === b.id);
    const v = (message: string) => out.push({ resource: b.name, message });
    if (typeof b.inputs.acl === "string" && b.inputs.acl.startsWith("public")) v(`bucket ACL is ${b.inputs.acl}`);
    for (const acl of mine("aws:s3/bucketAcl:BucketAcl"))
      if (String(acl.inputs.acl ?? "").startsWith("public")) v(`BucketAcl ${acl.name} is ${acl.inputs.acl}`);
    const blocks = mine("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
    const fields = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"];
    if (!blocks.some((p) => fields.every((f) => p.inputs[f] === true))) v("no public access block with all four settings true");
    const statements = mine("aws:s3/bucketPolicy:BucketPolicy").flatMap((p) => asList(parse(p.inputs.policy).Statement));
    if (statements.some((s) => s.Effect === "Allow" && isPublicPrincipal(s.Principal))) v("bucket policy allows a public principal");
    if (!statements.some((s) => s.Effect === "Deny" && String(s.Condition?.Bool?.["aws:SecureTransport"]) === "false"))
      v("bucket policy does not deny non-TLS access");
  }
  return out;
}

/** Every container runs as non-root, without privilege escalation or capabilities, with CPU and memory limits. */
export function containersHardened(rs: readonly Registered[]): Violation[] {
  const out: Violation[] = [];
  for (const r of rs.filter((x) => x.type in POD_OWNERS)) {
    const pod = POD_OWNERS[r.type](r.inputs) ?? {};
    for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
      const v = (message: string) => out.push({ resource: `${r.name}/${c.name}`, message });
      const sc = c.securityContext ?? {};
      const nonRoot = sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
      if (nonRoot !== true || sc.runAsUser === 0 || pod.securityContext?.runAsUser === 0) v("may run as root");
      if (sc.allowPrivilegeEscalation !== false) v("allows privilege escalation");
      if (sc.privileged === true) v("is privileged");
      if (!asList(sc.capabilities?.drop).includes("ALL")) v("does not drop ALL capabilities");
      if (!c.resources?.limits?.cpu || !c.resources?.limits?.memory) v("has no CPU and memory limits");
    }
  }
  return out;
}

/** Every Deployment names its namespace, and that namespace has a ResourceQuota. */
export function deploymentsInQuotaedNamespaces(rs: readonly Registered[]): Violation[] {
  const quotaed = new Set(rs.filter((r) => r.type === "kubernetes:core/v1:ResourceQuota").map((r) => r.inputs.metadata?.namespace));
  return rs
    .filter((r) => r.type === "kubernetes:apps/v1:Deployment")
    .filter((d) => !d.inputs.metadata?.namespace || !quotaed.has(d.inputs.metadata.namespace))
    .map((d) => ({ resource: d.name, message: `namespace ${d.inputs.metadata?.namespace ?? "(none)"} has no ResourceQuota` }));
}

/**
 * A role with more than read-only rights may be assumed through web identity only by an exact
 * branch or environment subject (`repo:<owner>/<repo>:ref:refs/heads/<branch>`,
 * `repo:<owner>/<repo>:environment:<name>`, StringEquals, audience sts.amazonaws.com): never by
 * pull requests, wildcards, or without a subject.
 */
export function privilegedRolesNotFromPullRequests(rs: readonly Registered[]): Violation[] {
  const out: Violation[] = [];
  const attachments = rs.filter((r) => r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment");
  for (const role of rs.filter((r) => r.type === "aws:iam/role:Role")) {
    const policies = attachments.filter((a) => a.inputs.role === role.state.name).map((a) => a.inputs.policyArn);
    const privileged =
      policies.some((p) => p !== READ_ONLY) ||
      asList(role.inputs.inlinePolicies).length > 0 ||
      asList(role.inputs.managedPolicyArns).some((p) => p !== READ_ONLY);
    if (!privileged) continue;
    const v = (message: string) => out.push({ resource: role.name, message });
    for (const s of asList(parse(role.inputs.assumeRolePolicy).Statement)) {
      if (s.Effect !== "Allow" || !asList(s.Action).includes("sts:AssumeRoleWithWebIdentity")) continue;
      const cond = s.Condition ?? {};
      const likeSub = Object.keys(cond.StringLike ?? {}).some((k) => k.endsWith(":sub"));
      const subKey = Object.keys(cond.StringEquals ?? {}).find((k) => k.endsWith(":sub"));
      const subs = subKey ? asList<string>(cond.StringEquals[subKey]) : [];
      const audKey = Object.keys(cond.StringEquals ?? {}).find((k) => k.endsWith(":aud"));
      if (likeSub) v("trust matches the subject with StringLike (wildcards)");
      if (subs.length === 0) v("trust does not pin the token subject");
      for (const sub of subs)
        if (!/^repo:[^:*?]+\/[^:*?]+:(ref:refs\/heads\/[^*?]+|environment:[^:*?]+)$/.test(sub))
          v(`assumable by ${sub}, not only a branch or an environment`);
      if (!audKey || asList(cond.StringEquals[audKey]).join() !== "sts.amazonaws.com")
        v("trust does not pin the audience sts.amazonaws.com");
    }
  }
  return out;
}

export const allChecks = { noPublicBuckets, containersHardened, deploymentsInQuotaedNamespaces, privilegedRolesNotFromPullRequests };

export function runAllChecks(rs: readonly Registered[]): Violation[] {
  return Object.values(allChecks).flatMap((check) => check(rs));
}
