import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { CpuMemory } from "../config/schema";
import { isDnsLabel } from "../config/patterns";
import { controlAnnotations } from "./kubernetes";

export interface TenantNamespaceArgs {
  /** Namespace name (a DNS label); defaults to the component name. */
  readonly namespaceName?: string;
  /** Hard quota over all pods of the namespace. */
  readonly quota: { readonly requests: CpuMemory; readonly limits: CpuMemory; readonly pods: number };
  /** Requests/limits the LimitRange gives containers that set none. */
  readonly containerDefaults?: { readonly requests: CpuMemory; readonly limits: CpuMemory };
  /** Namespaces whose pods may reach pods here (e.g. the ingress controller's namespace). */
  readonly allowIngressFromNamespaces?: readonly string[];
  /** Pod Security Admission level enforced on the namespace. Default `restricted`. */
  readonly podSecurity?: "restricted" | "baseline";
  /** Environment label value. */
  readonly environment?: string;
  /** Add `pulumi.com/skipAwait: "true"` to every resource. */
  readonly skipAwait?: boolean;
  /** Take back fields another field manager changed (`pulumi.com/patchForce`); see WebService. */
  readonly forceOwnership?: boolean;
}

/** Quota `hard` map from the args: requests.*, limits.*, pods. */
export function quotaHard(quota: TenantNamespaceArgs["quota"]): Record<string, string> {
  return {
    "requests.cpu": quota.requests.cpu,
    "requests.memory": quota.requests.memory,
    "limits.cpu": quota.limits.cpu,
    "limits.memory": quota.limits.memory,
    pods: String(quota.pods),
  };
}

/** Default-deny: selects every pod, allows nothing in either direction. */
export function defaultDenySpec(): k8s.types.input.networking.v1.NetworkPolicySpec {
  return { podSelector: {}, policyTypes: ["Ingress", "Egress"] };
}

/**
 * Allows traffic between pods of the same namespace, DNS lookups to kube-dns, and ingress from
 * the listed namespaces.
 */
export function allowSameNamespaceSpec(fromNamespaces: readonly string[] = []): k8s.types.input.networking.v1.NetworkPolicySpec {
  const ingressFrom: k8s.types.input.networking.v1.NetworkPolicyPeer[] = [{ podSelector: {} }];
  if (fromNamespaces.length > 0)
    ingressFrom.push({
      namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: [...fromNamespaces] }] },
    });
  return {
    podSelector: {},
    policyTypes: ["Ingress", "Egress"],
    ingress: [{ from: ingressFrom }],
    egress: [
      { to: [{ podSelector: {} }] },
      {
        to: [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
            podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
          },
        ],
        ports: [
          { protocol: "UDP", port: 53 },
          { protocol: "TCP", port: 53 },
        ],
      },
    ],
  };
}

/**
 * A namespace a team can own safely: ResourceQuota, LimitRange, default-deny network policy plus
 * an allow-same-namespace policy, and Pod Security Admission `restricted` enforced.
 */
export class TenantNamespace extends pulumi.ComponentResource {
  /** The namespace's name. */
  public readonly namespaceName: pulumi.Output<string>;
  public readonly namespace: k8s.core.v1.Namespace;
  public readonly quota: k8s.core.v1.ResourceQuota;
  public readonly limitRange: k8s.core.v1.LimitRange;

  constructor(name: string, args: TenantNamespaceArgs, opts: pulumi.ComponentResourceOptions = {}) {
    const nsName = args.namespaceName ?? name;
    if (!isDnsLabel(nsName)) throw new Error(`namespace name ${JSON.stringify(nsName)} is not a DNS label`);
    if (!(Number.isInteger(args.quota.pods) && args.quota.pods > 0)) throw new Error("quota.pods must be a positive integer");
    super("pulumi-gitops:kubernetes:TenantNamespace", name, {}, opts);

    const annotations = controlAnnotations(args);
    const level = args.podSecurity ?? "restricted";
    const labels: Record<string, string> = {
      "app.kubernetes.io/managed-by": "pulumi-gitops",
      "pod-security.kubernetes.io/enforce": level,
      "pod-security.kubernetes.io/warn": "restricted",
      ...(args.environment ? { "pulumi-gitops/environment": args.environment } : {}),
    };

    this.namespace = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: nsName, labels, annotations } }, { parent: this });
    const ns = this.namespace.metadata.name;
    const meta = (n: string) => ({ name: n, namespace: ns, labels: { "app.kubernetes.io/managed-by": "pulumi-gitops" }, annotations });
    const child = { parent: this };

    this.quota = new k8s.core.v1.ResourceQuota(`${name}-quota`, { metadata: meta("quota"), spec: { hard: quotaHard(args.quota) } }, child);

    const defaults = args.containerDefaults ?? { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } };
    this.limitRange = new k8s.core.v1.LimitRange(
      `${name}-limits`,
      {
        metadata: meta("defaults"),
        spec: { limits: [{ type: "Container", defaultRequest: { ...defaults.requests }, default: { ...defaults.limits } }] },
      },
      child,
    );

    new k8s.networking.v1.NetworkPolicy(`${name}-default-deny`, { metadata: meta("default-deny"), spec: defaultDenySpec() }, child);
    new k8s.networking.v1.NetworkPolicy(
      `${name}-allow-same-namespace`,
      { metadata: meta("allow-same-namespace"), spec: allowSameNamespaceSpec(args.allowIngressFromNamespaces) },
      child,
    );

    this.namespaceName = ns;
    this.registerOutputs({ namespaceName: this.namespaceName });
  }
}
