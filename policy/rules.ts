/**
 * The rules of the policy pack, as plain functions over the resources of one stack (the engine's
 * view: type, name, URN, properties, and which resources each property came from). Each returns
 * the violations it finds; an empty list means the stack complies. index.ts makes them policies.
 */
import type { PolicyResource } from "@pulumi/policy";

/** What a rule needs of a resource: the engine's PolicyResource has all of it. */
export type Resource = Pick<PolicyResource, "type" | "name" | "urn" | "props" | "propertyDependencies">;

export interface Violation {
  resource: Resource;
  message: string;
}

const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kubernetes objects as the engine gives them
type PodSpecOf = (props: Record<string, any>) => any;
const POD_OWNERS: Record<string, PodSpecOf> = {
  "kubernetes:apps/v1:Deployment": (p) => p.spec?.template?.spec,
  "kubernetes:apps/v1:StatefulSet": (p) => p.spec?.template?.spec,
  "kubernetes:apps/v1:DaemonSet": (p) => p.spec?.template?.spec,
  "kubernetes:batch/v1:Job": (p) => p.spec?.template?.spec,
  "kubernetes:core/v1:Pod": (p) => p.spec,
};

/**
 * A property's value, or undefined while it is unknown: during a preview, what a resource not yet
 * made will output is unknown, and the policy SDK throws on reading it.
 */
function known<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (e) {
    if ((e as Error)?.constructor?.name === "UnknownValueError") return undefined;
    throw e;
  }
}

const parse = (doc: unknown) => (typeof doc === "string" ? JSON.parse(doc) : doc) as { Statement?: Statement[] } | undefined;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- IAM JSON documents
type Statement = Record<string, any>;
const asList = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);
const isPublicPrincipal = (p: Statement["Principal"]) => p === "*" || asList(p?.AWS).includes("*");

/**
 * Whether `r`'s property `prop` refers to `target`: it was made from one of `target`'s outputs
 * (known even during a preview), or its value is one of `target`'s identifying outputs.
 */
function refersTo(r: Resource, prop: string, target: Resource, ids: string[]): boolean {
  if ((r.propertyDependencies?.[prop] ?? []).some((d) => d.urn === target.urn)) return true;
  const value = known(() => r.props[prop]);
  return value !== undefined && ids.some((k) => known(() => target.props[k]) === value);
}

/** No bucket may be public: full public access block, no public ACL, no policy granting `*`, TLS enforced. */
export function noPublicBuckets(rs: readonly Resource[]): Violation[] {
  const out: Violation[] = [];
  for (const b of rs.filter((r) => r.type === "aws:s3/bucket:Bucket")) {
    const mine = (type: string) => rs.filter((r) => r.type === type && refersTo(r, "bucket", b, ["id", "bucket"]));
    const v = (message: string) => out.push({ resource: b, message });
    const acl = known(() => b.props.acl);
    if (typeof acl === "string" && acl.startsWith("public")) v(`bucket ACL is ${acl}`);
    for (const a of mine("aws:s3/bucketAcl:BucketAcl")) {
      const value = String(known(() => a.props.acl) ?? "");
      if (value.startsWith("public")) v(`BucketAcl ${a.name} is ${value}`);
    }
    const blocks = mine("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
    const fields = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"];
    if (!blocks.some((p) => fields.every((f) => known(() => p.props[f]) === true))) v("no public access block with all four settings true");
    const statements = mine("aws:s3/bucketPolicy:BucketPolicy").flatMap((p) => asList(parse(known(() => p.props.policy))?.Statement));
    if (statements.some((s) => s.Effect === "Allow" && isPublicPrincipal(s.Principal))) v("bucket policy allows a public principal");
    if (!statements.some((s) => s.Effect === "Deny" && String(s.Condition?.Bool?.["aws:SecureTransport"]) === "false"))
      v("bucket policy does not deny non-TLS access");
  }
  return out;
}

/** Every container runs as non-root, without privilege escalation or capabilities, with CPU and memory limits. */
export function containersHardened(rs: readonly Resource[]): Violation[] {
  const out: Violation[] = [];
  for (const r of rs.filter((x) => x.type in POD_OWNERS)) {
    const pod = POD_OWNERS[r.type](r.props) ?? {};
    for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
      const v = (message: string) => out.push({ resource: r, message: `container ${c.name} ${message}` });
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

/**
 * The namespaces a namespaced object is in, each as `name:<name>` and, when it was made from a
 * Namespace of the stack, as that Namespace's URN (its name may be unknown during a preview).
 */
function namespaceKeys(r: Resource, namespaces: readonly Resource[]): string[] {
  const keys: string[] = [];
  const literal = known(() => r.props.metadata?.namespace);
  if (typeof literal === "string") keys.push(`name:${literal}`);
  for (const ns of namespaces) {
    const name = known(() => ns.props.metadata?.name);
    if (refersTo(r, "metadata", ns, []) || (typeof name === "string" && name === literal)) {
      keys.push(ns.urn);
      if (typeof name === "string") keys.push(`name:${name}`);
    }
  }
  return keys;
}

/** Every Deployment names its namespace, and that namespace has a ResourceQuota. */
export function deploymentsInQuotaedNamespaces(rs: readonly Resource[]): Violation[] {
  const namespaces = rs.filter((r) => r.type === "kubernetes:core/v1:Namespace");
  const quotaed = new Set(rs.filter((r) => r.type === "kubernetes:core/v1:ResourceQuota").flatMap((q) => namespaceKeys(q, namespaces)));
  return rs
    .filter((r) => r.type === "kubernetes:apps/v1:Deployment")
    .filter((d) => !namespaceKeys(d, namespaces).some((k) => quotaed.has(k)))
    .map((d) => ({ resource: d, message: `namespace ${known(() => d.props.metadata?.namespace) ?? "(none)"} has no ResourceQuota` }));
}

/**
 * A role with more than read-only rights may be assumed through web identity only by an exact
 * branch or environment subject (`repo:<owner>/<repo>:ref:refs/heads/<branch>`,
 * `repo:<owner>/<repo>:environment:<name>`, StringEquals, audience sts.amazonaws.com): never by
 * pull requests, wildcards, or without a subject.
 */
export function privilegedRolesNotFromPullRequests(rs: readonly Resource[]): Violation[] {
  const out: Violation[] = [];
  const attachments = rs.filter((r) => r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment");
  for (const role of rs.filter((r) => r.type === "aws:iam/role:Role")) {
    const policies = attachments.filter((a) => refersTo(a, "role", role, ["name", "id"])).map((a) => known(() => a.props.policyArn));
    const privileged =
      policies.some((p) => p !== READ_ONLY) ||
      asList(known(() => role.props.inlinePolicies)).length > 0 ||
      asList<string>(known(() => role.props.managedPolicyArns)).some((p) => p !== READ_ONLY);
    if (!privileged) continue;
    const v = (message: string) => out.push({ resource: role, message });
    for (const s of asList(parse(known(() => role.props.assumeRolePolicy))?.Statement)) {
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

/** Advisory: every long-running container has liveness and readiness probes, so rollouts and restarts see it. */
export function containersProbed(rs: readonly Resource[]): Violation[] {
  const out: Violation[] = [];
  for (const r of rs.filter((x) => x.type === "kubernetes:apps/v1:Deployment" || x.type === "kubernetes:apps/v1:StatefulSet")) {
    for (const c of POD_OWNERS[r.type](r.props)?.containers ?? []) {
      const missing = ["livenessProbe", "readinessProbe"].filter((p) => !c[p]);
      if (missing.length) out.push({ resource: r, message: `container ${c.name} has no ${missing.join(" and no ")}` });
    }
  }
  return out;
}
