import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { appLabels, controlAnnotations, hardenedContainerSecurityContext, ImageRef, imageReference, ResourceList } from "./kubernetes";

export interface WebServiceArgs {
  /** Namespace to deploy into (must exist). */
  readonly namespace: pulumi.Input<string>;
  /** Name of the Deployment and Service; defaults to the component name. */
  readonly appName?: string;
  readonly image: ImageRef;
  /** Fixed replica count; must not be set with `autoscaling` (the autoscaler owns it). Default 1. */
  readonly replicas?: pulumi.Input<number>;
  readonly autoscaling?: {
    readonly minReplicas: number;
    readonly maxReplicas: number;
    readonly targetCpuUtilizationPercent: pulumi.Input<number>;
  };
  /** Container port; the Service exposes port 80 mapped to it. Default 8080. */
  readonly port?: number;
  /** HTTP path for liveness and readiness probes. Default `/healthz`. */
  readonly healthPath?: pulumi.Input<string>;
  readonly resources: { readonly requests: ResourceList; readonly limits: ResourceList };
  readonly env?: Readonly<Record<string, pulumi.Input<string>>>;
  /**
   * Environment variables whose values are secrets: kept in a Kubernetes Secret `<appName>-env`
   * (encrypted in Pulumi's state) and passed by `secretKeyRef`, never in the Deployment's spec.
   */
  readonly secretEnv?: Readonly<Record<string, pulumi.Input<string>>>;
  /** Public hostname; absent = no Ingress. */
  readonly ingress?: {
    readonly host: pulumi.Input<string>;
    readonly className?: pulumi.Input<string>;
    readonly tlsSecretName?: pulumi.Input<string>;
  };
  /** PodDisruptionBudget; exactly one of minAvailable and maxUnavailable. Absent = none. */
  readonly disruptionBudget?: { readonly minAvailable?: number; readonly maxUnavailable?: number };
  /** Environment label value, e.g. `prod`. */
  readonly environment?: string;
  /** Add `pulumi.com/skipAwait: "true"` to every resource (test clusters without kubelets). */
  readonly skipAwait?: boolean;
  /**
   * Take back fields another field manager changed (`pulumi.com/patchForce`): git owns what it
   * declares, so apply and drift remediation overwrite a hand-made `kubectl scale` or `set image`.
   */
  readonly forceOwnership?: boolean;
}

/**
 * A stateless HTTP service on Kubernetes: Deployment + Service, and optionally Ingress,
 * HorizontalPodAutoscaler and PodDisruptionBudget, with hardened pod defaults.
 */
export class WebService extends pulumi.ComponentResource {
  /** Name of the Kubernetes Service. */
  public readonly serviceName: pulumi.Output<string>;
  /** Namespace the service runs in. */
  public readonly namespace: pulumi.Output<string>;
  /** In-cluster URL, `http://<service>.<namespace>.svc.cluster.local`. */
  public readonly url: pulumi.Output<string>;
  /** The image reference the pods run (`repo:tag` or `repo@digest`). */
  public readonly image: string;
  public readonly deployment: k8s.apps.v1.Deployment;
  public readonly service: k8s.core.v1.Service;
  /** The Ingress, when `ingress` was given. */
  public readonly ingress?: k8s.networking.v1.Ingress;
  /** The autoscaler, when `autoscaling` was given. */
  public readonly autoscaler?: k8s.autoscaling.v2.HorizontalPodAutoscaler;
  /** The disruption budget, when `disruptionBudget` was given. */
  public readonly disruptionBudget?: k8s.policy.v1.PodDisruptionBudget;
  /** The Secret holding `secretEnv`, when it was given. */
  public readonly secretEnv?: k8s.core.v1.Secret;

  constructor(name: string, args: WebServiceArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Conflicting arguments fail before anything, even the component, is registered.
    validateWebServiceArgs(args);
    super("pulumi-gitops:kubernetes:WebService", name, {}, opts);

    const appName = args.appName ?? name;
    const image = imageReference(args.image);
    const port = args.port ?? 8080;
    const labels = appLabels(appName, { version: args.image.tag ?? args.image.digest, environment: args.environment });
    const annotations = controlAnnotations(args);
    // The version label lives on the Deployment and its pods only, so a release doesn't touch the others.
    const stable = appLabels(appName, { environment: args.environment }).all;
    const metadata = (versioned = false) => ({
      name: appName,
      namespace: args.namespace,
      labels: versioned ? labels.all : stable,
      annotations,
    });
    const parent = { parent: this };
    const probe = (failureThreshold: number) => ({
      httpGet: { path: args.healthPath ?? "/healthz", port: "http" },
      periodSeconds: 10,
      timeoutSeconds: 2,
      failureThreshold,
    });

    this.image = image;
    const secretNames = Object.keys(args.secretEnv ?? {});
    if (secretNames.length) {
      this.secretEnv = new k8s.core.v1.Secret(
        `${name}-env`,
        {
          metadata: { name: `${appName}-env`, namespace: args.namespace, labels: stable, annotations },
          type: "Opaque",
          // Marked secret whatever the caller passed: the state keeps it encrypted, diffs mask it.
          stringData: pulumi.secret(args.secretEnv as Record<string, pulumi.Input<string>>),
        },
        parent,
      );
    }
    const env = [
      ...Object.entries(args.env ?? {}).map(([envName, value]) => ({ name: envName, value })),
      ...secretNames.map((envName) => ({ name: envName, valueFrom: { secretKeyRef: { name: `${appName}-env`, key: envName } } })),
    ];
    this.deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: metadata(true),
        spec: {
          // Left unset under an autoscaler so that applies never fight it.
          replicas: args.autoscaling ? undefined : (args.replicas ?? 1),
          selector: { matchLabels: labels.selector },
          strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: 0 } },
          template: {
            metadata: { labels: labels.all },
            spec: {
              automountServiceAccountToken: false,
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 10001,
                runAsGroup: 10001,
                fsGroup: 10001,
                seccompProfile: { type: "RuntimeDefault" },
              },
              containers: [
                {
                  name: appName,
                  image,
                  ports: [{ name: "http", containerPort: port, protocol: "TCP" }],
                  env,
                  resources: { requests: { ...args.resources.requests }, limits: { ...args.resources.limits } },
                  livenessProbe: probe(3),
                  readinessProbe: probe(1),
                  securityContext: hardenedContainerSecurityContext(),
                  // The root filesystem is read-only; give the app a scratch directory.
                  volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                },
              ],
              volumes: [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }],
            },
          },
        },
      },
      this.secretEnv ? { parent: this, dependsOn: [this.secretEnv] } : parent,
    );

    this.service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: metadata(),
        spec: { type: "ClusterIP", selector: labels.selector, ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }] },
      },
      parent,
    );

    if (args.ingress) {
      const ing = args.ingress;
      this.ingress = new k8s.networking.v1.Ingress(
        `${name}-ingress`,
        {
          metadata: metadata(),
          spec: {
            ingressClassName: ing.className,
            tls: ing.tlsSecretName ? [{ hosts: [ing.host], secretName: ing.tlsSecretName }] : undefined,
            rules: [
              {
                host: ing.host,
                http: {
                  paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: appName, port: { name: "http" } } } }],
                },
              },
            ],
          },
        },
        { parent: this, dependsOn: [this.service] },
      );
    }

    if (args.autoscaling) {
      const a = args.autoscaling;
      this.autoscaler = new k8s.autoscaling.v2.HorizontalPodAutoscaler(
        `${name}-hpa`,
        {
          metadata: metadata(),
          spec: {
            scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: appName },
            minReplicas: a.minReplicas,
            maxReplicas: a.maxReplicas,
            metrics: [
              {
                type: "Resource",
                resource: { name: "cpu", target: { type: "Utilization", averageUtilization: a.targetCpuUtilizationPercent } },
              },
            ],
          },
        },
        { parent: this, dependsOn: [this.deployment] },
      );
    }

    if (args.disruptionBudget) {
      this.disruptionBudget = new k8s.policy.v1.PodDisruptionBudget(
        `${name}-pdb`,
        {
          metadata: metadata(),
          spec: {
            selector: { matchLabels: labels.selector },
            minAvailable: args.disruptionBudget.minAvailable,
            maxUnavailable: args.disruptionBudget.maxUnavailable,
          },
        },
        parent,
      );
    }

    this.serviceName = this.service.metadata.name;
    this.namespace = this.service.metadata.namespace;
    this.url = pulumi.interpolate`http://${this.serviceName}.${this.namespace}.svc.cluster.local`;
    this.registerOutputs({ serviceName: this.serviceName, namespace: this.namespace, url: this.url, image });
  }
}

/** Throws on conflicting or impossible arguments, before anything is created. */
export function validateWebServiceArgs(args: WebServiceArgs): void {
  imageReference(args.image);
  if (args.autoscaling) {
    if (args.replicas !== undefined) throw new Error("set replicas or autoscaling, not both: the autoscaler owns the replica count");
    const { minReplicas, maxReplicas } = args.autoscaling;
    if (!(minReplicas >= 1 && minReplicas <= maxReplicas))
      throw new Error(`autoscaling needs 1 <= minReplicas <= maxReplicas (got ${minReplicas}..${maxReplicas})`);
  }
  if (args.disruptionBudget) {
    const { minAvailable, maxUnavailable } = args.disruptionBudget;
    if ((minAvailable === undefined) === (maxUnavailable === undefined))
      throw new Error("disruptionBudget: set exactly one of minAvailable and maxUnavailable");
  }
  const both = Object.keys(args.secretEnv ?? {}).filter((k) => args.env?.[k] !== undefined);
  if (both.length) throw new Error(`env and secretEnv both set ${both.join(", ")}: set each variable once`);
  if (args.port !== undefined && !(Number.isInteger(args.port) && args.port > 0 && args.port < 65536))
    throw new Error(`port must be an integer in 1..65535 (got ${args.port})`);
}
