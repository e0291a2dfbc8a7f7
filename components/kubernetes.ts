/**
 * Kubernetes helpers shared by the components: image references, the recommended labels, the
 * hardened container securityContext and the annotations that steer the provider.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { IMAGE_DIGEST } from "../config/patterns";

/** Container image: a repository and exactly one of tag and digest. */
export interface ImageRef {
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** `repo:tag` or `repo@sha256:...`; throws unless exactly one of tag and digest is set. */
export function imageReference(image: ImageRef): string {
  if (image.tag !== undefined && image.digest !== undefined)
    throw new Error(`image ${image.repository}: set exactly one of tag and digest, not both`);
  if (image.tag !== undefined) return `${image.repository}:${image.tag}`;
  if (image.digest !== undefined) {
    if (!IMAGE_DIGEST.test(image.digest)) throw new Error(`image ${image.repository}: digest must be sha256:<64 hex digits>`);
    return `${image.repository}@${image.digest}`;
  }
  throw new Error(`image ${image.repository}: set exactly one of tag and digest`);
}

/**
 * The recommended Kubernetes labels. `selector` is the stable subset used in Deployment and Service
 * selectors (immutable on a Deployment: it must never include the version).
 */
export function appLabels(app: string, opts: { version?: string; environment?: string; partOf?: string } = {}) {
  const selector: Record<string, string> = { "app.kubernetes.io/name": app, "app.kubernetes.io/instance": app };
  const all: Record<string, string> = { ...selector, "app.kubernetes.io/managed-by": "pulumi-gitops" };
  if (opts.version !== undefined) all["app.kubernetes.io/version"] = labelValue(opts.version);
  if (opts.environment !== undefined) all["pulumi-gitops/environment"] = opts.environment;
  if (opts.partOf !== undefined) all["app.kubernetes.io/part-of"] = opts.partOf;
  return { selector, all };
}

/** A label value (max 63 chars of [A-Za-z0-9_.-], alphanumeric at both ends) derived from any string. */
export function labelValue(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 63);
  return cleaned.replace(/^[^A-Za-z0-9]+/, "").replace(/[^A-Za-z0-9]+$/, "");
}

/** The hardened container securityContext every container of the components gets. */
export function hardenedContainerSecurityContext(): k8s.types.input.core.v1.SecurityContext {
  return {
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Annotations that steer the Kubernetes provider: skip readiness waits (clusters without kubelets), force field ownership. */
export function controlAnnotations(o: { skipAwait?: boolean; forceOwnership?: boolean }): Record<string, string> {
  return {
    ...(o.skipAwait ? { "pulumi.com/skipAwait": "true" } : {}),
    ...(o.forceOwnership ? { "pulumi.com/patchForce": "true" } : {}),
  };
}

export interface ResourceList {
  readonly cpu: pulumi.Input<string>;
  readonly memory: pulumi.Input<string>;
}
