import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { AGENT_DEFAULTS, AGENT_FLAGS, AGENT_PORT } from "../config/agentFlags";
import { durationMs } from "../config/duration";
import { BRANCH, isDnsLabel } from "../config/patterns";
import { appLabels, controlAnnotations, hardenedContainerSecurityContext, ImageRef, imageReference, ResourceList } from "./kubernetes";

export { AGENT_PORT };
/** The agent's working directory (its clone, and the embedded state unless `backendUrl`): an emptyDir, or `workVolumeClaim`. */
export const AGENT_WORK_DIR = "/var/lib/gitops";
/** Size limit of the work dir's emptyDir by default: a clone, its dependencies after a lockfile change, state and backups. */
export const DEFAULT_WORK_SIZE_LIMIT = "8Gi";
/** Size limit of HOME's emptyDir (npm's cache after a lockfile change, git and Pulumi settings). */
export const HOME_SIZE_LIMIT = "2Gi";
/** Where the `gitCredentialsSecret` is mounted; it holds `.git-credentials`. */
export const GIT_CREDENTIALS_DIR = "/etc/gitops/git";
/** Where the `webhookSecret` is mounted. */
export const WEBHOOK_SECRET_DIR = "/etc/gitops/webhook";
/** HOME of the agent, an emptyDir (npm, git and the Pulumi CLI write there). */
export const AGENT_HOME = "/home/gitops";
/**
 * The program the image runs, up to the subcommand; the flags from `agentArgs` follow as `args`.
 * Node runs the CLI itself, so the kubelet's SIGTERM reaches the agent: `npx` in front exits at
 * once on SIGTERM without passing it on, which ends the container in the middle of an update.
 */
export const DEFAULT_AGENT_COMMAND: readonly string[] = ["node", "bin/gitops", "agent"];
/** Seconds the pod gets beyond `--shutdown-timeout` before the kubelet kills it. */
export const GRACE_MARGIN_SECONDS = 30;

const WEBHOOK_SECRET_FILE = "webhook-secret";

/** A key of a Secret in the agent's namespace. */
export interface SecretKeyRef {
  readonly name: pulumi.Input<string>;
  readonly key: pulumi.Input<string>;
}

export interface GitOpsAgentArgs {
  /** Namespace to create for the agent (a DNS label, Pod Security `restricted`); defaults to the component name. */
  readonly namespaceName?: string;
  /** Name of the Deployment, Service and ServiceAccount; defaults to the component name. */
  readonly appName?: string;
  /** An image built from this repository, with node_modules installed, in `workingDir`. */
  readonly image: ImageRef;
  /** The program, up to and including the `agent` subcommand. Default `node bin/gitops agent` (see DEFAULT_AGENT_COMMAND). */
  readonly command?: readonly string[];
  /** Working directory of the container. Default `/app`. */
  readonly workingDir?: string;
  /** Git URL or path of the repository to follow. Credentials belong in `gitCredentialsSecret`, never here. */
  readonly repoUrl: string;
  /** Branch to apply from. Default `main` (AGENT_DEFAULTS). */
  readonly branch?: string;
  /** How often to poll git, e.g. `60s` (the default, AGENT_DEFAULTS). */
  readonly interval?: string;
  /** How often to check for drift, e.g. `15m` (the default, AGENT_DEFAULTS); `0s` turns drift checks off. */
  readonly driftInterval?: string;
  /** Apply git over drift instead of only reporting it. Default false (detect only). */
  readonly remediate?: boolean;
  /** Longest wait between retries after failures, e.g. `10m`; absent = the agent's default. */
  readonly backoffCap?: string;
  /** How long the agent may take to stop after SIGTERM. Default `60s`; the pod's grace period is this plus 30 s. */
  readonly shutdownTimeout?: string;
  /**
   * State backend, e.g. `s3://bucket?region=eu-west-1` (sets PULUMI_BACKEND_URL). Without it (or
   * with a `file:` backend) the state lives in the work dir, so `workVolumeClaim` is then required.
   */
  readonly backendUrl?: pulumi.Input<string>;
  /**
   * Name of a PersistentVolumeClaim in the agent's namespace (made out of band, like the Secrets)
   * mounted as the work dir, so that a file backend's state and the backups outlive the pod. The
   * agent is then told `--persistent-state`; without it the work dir is an emptyDir.
   */
  readonly workVolumeClaim?: pulumi.Input<string>;
  /** Size limit of the work dir's emptyDir. Default `8Gi`. */
  readonly workSizeLimit?: string;
  /**
   * Who may reach the agent's port (its NetworkPolicy admits nothing else): the metrics scraper.
   * Default: pods in the namespace `monitoring`. `[]` admits no scraper.
   */
  readonly metricsFrom?: readonly k8s.types.input.networking.v1.NetworkPolicyPeer[];
  /**
   * Who may send push webhooks, i.e. the Ingress controller that routes them (only with
   * `webhookSecret`). Default: pods in the namespace `ingress-nginx`.
   */
  readonly webhookFrom?: readonly k8s.types.input.networking.v1.NetworkPolicyPeer[];
  /** Secret key holding the secrets passphrase (PULUMI_CONFIG_PASSPHRASE, through secretKeyRef). */
  readonly passphraseSecret: SecretKeyRef;
  /** Name of a Secret with key `.git-credentials` (`https://user:token@host` lines) for HTTPS git. */
  readonly gitCredentialsSecret?: pulumi.Input<string>;
  /** Secret key holding the HMAC key of the push webhook (POST /hooks/git); absent = no webhook. */
  readonly webhookSecret?: SecretKeyRef;
  /** Annotations of the ServiceAccount, e.g. `eks.amazonaws.com/role-arn` for IRSA. */
  readonly serviceAccountAnnotations?: Readonly<Record<string, pulumi.Input<string>>>;
  /**
   * Mount the ServiceAccount's API token. Default false; set it when the stacks manage this
   * cluster from inside (and bind RBAC to `serviceAccountName`). IRSA does not need it.
   */
  readonly automountServiceAccountToken?: boolean;
  /** Default requests 250m / 512Mi, limits 2 CPUs / 2Gi (the engine runs provider plugins). */
  readonly resources?: { readonly requests: ResourceList; readonly limits: ResourceList };
  /** More environment variables (e.g. AWS_REGION). Names the component sets itself are refused. */
  readonly env?: Readonly<Record<string, pulumi.Input<string>>>;
  /** More flags appended to the agent's. */
  readonly extraArgs?: readonly string[];
  /** UID and GID the agent runs as (non-root). Default 10001. */
  readonly runAsUser?: number;
  readonly imagePullSecrets?: readonly string[];
  /** Environment label value. */
  readonly environment?: string;
  /** Add `pulumi.com/skipAwait: "true"` to every resource. */
  readonly skipAwait?: boolean;
  /** Take back fields another field manager changed (`pulumi.com/patchForce`); see WebService. */
  readonly forceOwnership?: boolean;
}

/**
 * Seconds in a duration as the agent reads it: `90`, `90s`, `15m`, `1h30m`, `500ms` (a bare number
 * is seconds). Throws on anything else, and on zero unless allowed.
 */
export function durationSeconds(what: string, d: string, o: { allowZero?: boolean } = {}): number {
  const ms = durationMs(d);
  if (ms === undefined) throw new Error(`${what} must be a duration like 90, 90s, 15m or 1h30m (got ${JSON.stringify(d)})`);
  if (ms === 0 && !o.allowZero) throw new Error(`${what} must be longer than zero (got ${d})`);
  return ms / 1000;
}

/** The options `agentArgs` reads, with the agent's defaults. */
export type AgentFlagOptions = Pick<
  GitOpsAgentArgs,
  "repoUrl" | "branch" | "interval" | "driftInterval" | "remediate" | "backoffCap" | "shutdownTimeout" | "extraArgs"
> & { readonly webhook?: boolean; readonly persistentState?: boolean };

/** The flags of `gitops agent` for a pod: listens on 0.0.0.0 so the Service reaches it, works in the work volume. */
export function agentArgs(o: AgentFlagOptions): string[] {
  const F = AGENT_FLAGS;
  const D = AGENT_DEFAULTS;
  return [
    `--${F.repo}`,
    o.repoUrl,
    `--${F.branch}`,
    o.branch ?? D.branch,
    `--${F.workDir}`,
    AGENT_WORK_DIR,
    `--${F.interval}`,
    o.interval ?? D.interval,
    `--${F.driftInterval}`,
    o.driftInterval ?? D.driftInterval,
    `--${F.listen}`,
    `0.0.0.0:${AGENT_PORT}`,
    `--${F.shutdownTimeout}`,
    o.shutdownTimeout ?? D.shutdownTimeout,
    ...(o.remediate ? [`--${F.remediate}`] : []),
    ...(o.backoffCap !== undefined ? [`--${F.backoffCap}`, o.backoffCap] : []),
    ...(o.webhook ? [`--${F.webhookSecretFile}`, `${WEBHOOK_SECRET_DIR}/${WEBHOOK_SECRET_FILE}`] : []),
    ...(o.persistentState ? [`--${F.persistentState}`] : []),
    ...(o.extraArgs ?? []),
  ];
}

/** The pod's terminationGracePeriodSeconds: the agent's shutdown timeout plus a margin, so it is never killed mid-shutdown. */
export function terminationGraceSeconds(shutdownTimeout: string = AGENT_DEFAULTS.shutdownTimeout): number {
  return Math.ceil(durationSeconds("shutdownTimeout", shutdownTimeout, { allowZero: true })) + GRACE_MARGIN_SECONDS;
}

/** The `sub` claim of the agent's ServiceAccount token, for an IRSA role's trust policy. */
export function serviceAccountSubject(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
}

/** Environment variables of the agent container; the passphrase only ever as a secretKeyRef. */
export function agentEnv(
  args: Pick<GitOpsAgentArgs, "passphraseSecret" | "backendUrl" | "gitCredentialsSecret" | "env">,
): k8s.types.input.core.v1.EnvVar[] {
  const env: k8s.types.input.core.v1.EnvVar[] = [
    { name: "HOME", value: AGENT_HOME },
    { name: "PULUMI_SKIP_UPDATE_CHECK", value: "true" },
    { name: "NPM_CONFIG_UPDATE_NOTIFIER", value: "false" },
    // No terminal: git fails at once instead of asking for a username.
    { name: "GIT_TERMINAL_PROMPT", value: "0" },
    { name: "PULUMI_CONFIG_PASSPHRASE", valueFrom: { secretKeyRef: { name: args.passphraseSecret.name, key: args.passphraseSecret.key } } },
  ];
  if (args.backendUrl !== undefined) env.push({ name: "PULUMI_BACKEND_URL", value: args.backendUrl });
  if (args.gitCredentialsSecret !== undefined)
    env.push(
      { name: "GIT_CONFIG_COUNT", value: "1" },
      { name: "GIT_CONFIG_KEY_0", value: "credential.helper" },
      { name: "GIT_CONFIG_VALUE_0", value: `store --file=${GIT_CREDENTIALS_DIR}/.git-credentials` },
    );
  for (const [name, value] of Object.entries(args.env ?? {})) env.push({ name, value });
  return env;
}

const reservedEnv = [
  "HOME",
  "PULUMI_SKIP_UPDATE_CHECK",
  "NPM_CONFIG_UPDATE_NOTIFIER",
  "GIT_TERMINAL_PROMPT",
  "PULUMI_CONFIG_PASSPHRASE",
  "PULUMI_CONFIG_PASSPHRASE_FILE",
];

/** Throws on conflicting or impossible arguments, before anything is created. */
export function validateGitOpsAgentArgs(name: string, args: GitOpsAgentArgs): void {
  const nsName = args.namespaceName ?? name;
  if (!isDnsLabel(nsName)) throw new Error(`namespace name ${JSON.stringify(nsName)} is not a DNS label`);
  const appName = args.appName ?? name;
  // Also the Service's name, which must start with a letter.
  if (!/^[a-z]/.test(appName) || !isDnsLabel(appName))
    throw new Error(`app name ${JSON.stringify(appName)} must be a DNS label starting with a letter`);
  imageReference(args.image);
  if (args.repoUrl.trim() === "" || args.repoUrl.startsWith("-"))
    throw new Error(`repoUrl must be a git URL or path (got ${JSON.stringify(args.repoUrl)})`);
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/@]*@/i.test(args.repoUrl) && !/^ssh:\/\/[^/:@]+@/i.test(args.repoUrl))
    throw new Error("repoUrl must not carry credentials (they would be stored in the Deployment); put them in gitCredentialsSecret");
  if (args.branch !== undefined && !BRANCH.test(args.branch))
    throw new Error(`branch must be a plain branch name (got ${JSON.stringify(args.branch)})`);
  if (args.interval !== undefined) durationSeconds("interval", args.interval);
  if (args.driftInterval !== undefined) durationSeconds("driftInterval", args.driftInterval, { allowZero: true });
  if (args.backoffCap !== undefined) durationSeconds("backoffCap", args.backoffCap);
  terminationGraceSeconds(args.shutdownTimeout);
  if (args.command !== undefined && args.command.length === 0) throw new Error("command must name a program");
  const backend = args.backendUrl ?? args.env?.PULUMI_BACKEND_URL;
  // An Output is known only later; the agent itself refuses a file backend in a pod without --persistent-state.
  if ((backend === undefined || (typeof backend === "string" && backend.startsWith("file:"))) && args.workVolumeClaim === undefined)
    throw new Error(
      "the agent's state would live in the pod's ephemeral storage and be lost with the pod (every stack then deployed again as new): " +
        "set backendUrl to a shared backend (e.g. s3://bucket?region=…), or workVolumeClaim to a PersistentVolumeClaim for the work dir",
    );
  if (args.workSizeLimit !== undefined && !/^\d+(\.\d+)?([KMGTPE]i?)?$/.test(args.workSizeLimit))
    throw new Error(`workSizeLimit must be a quantity like 8Gi (got ${JSON.stringify(args.workSizeLimit)})`);
  if (args.webhookFrom !== undefined && args.webhookSecret === undefined)
    throw new Error("webhookFrom admits webhooks, which are off without webhookSecret");
  if (args.runAsUser !== undefined && !(Number.isInteger(args.runAsUser) && args.runAsUser > 0))
    throw new Error(`runAsUser must be a positive integer, not root (got ${args.runAsUser})`);
  const taken = new Set([
    ...reservedEnv,
    ...(args.backendUrl !== undefined ? ["PULUMI_BACKEND_URL"] : []),
    ...(args.gitCredentialsSecret !== undefined ? ["GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"] : []),
  ]);
  for (const envName of Object.keys(args.env ?? {}))
    if (taken.has(envName))
      throw new Error(
        `env ${envName} is set by the component; use its argument instead (passphraseSecret, backendUrl, gitCredentialsSecret)`,
      );
}

/** Default sources of the agent's traffic: the usual namespaces of Prometheus and of ingress-nginx. */
const namespacePeer = (name: string): k8s.types.input.networking.v1.NetworkPolicyPeer => ({
  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } },
});
export const DEFAULT_METRICS_FROM = [namespacePeer("monitoring")];
export const DEFAULT_WEBHOOK_FROM = [namespacePeer("ingress-nginx")];

/**
 * The pull-mode agent (`gitops agent`) in its own namespace: Namespace (Pod Security `restricted`)
 * with a ResourceQuota of one pod, ServiceAccount, a one-replica Recreate Deployment, a ClusterIP
 * Service on the metrics port, and a NetworkPolicy that admits only the scraper and the webhook's
 * ingress to it. One agent, ever: a second would race the first for the same stacks. The Secrets it
 * reads (passphrase, git credentials, webhook key) and the work volume's claim are made out of
 * band; the component only references them.
 */
export class GitOpsAgent extends pulumi.ComponentResource {
  /** The namespace's name. */
  public readonly namespaceName: pulumi.Output<string>;
  /** Name of the agent's ServiceAccount (bind RBAC or an IRSA trust to it). */
  public readonly serviceAccountName: pulumi.Output<string>;
  /** Name of the Service in front of the agent's HTTP endpoints. */
  public readonly serviceName: pulumi.Output<string>;
  /** In-cluster base URL of the agent, `http://<service>.<namespace>.svc.cluster.local:9464`. */
  public readonly url: pulumi.Output<string>;
  /** The image reference the pod runs. */
  public readonly image: string;
  /** The container's args: the agent's flags. */
  public readonly args: readonly string[];
  public readonly namespace: k8s.core.v1.Namespace;
  public readonly quota: k8s.core.v1.ResourceQuota;
  public readonly serviceAccount: k8s.core.v1.ServiceAccount;
  public readonly deployment: k8s.apps.v1.Deployment;
  public readonly service: k8s.core.v1.Service;
  public readonly networkPolicy: k8s.networking.v1.NetworkPolicy;

  constructor(name: string, args: GitOpsAgentArgs, opts: pulumi.ComponentResourceOptions = {}) {
    validateGitOpsAgentArgs(name, args);
    super("pulumi-gitops:kubernetes:GitOpsAgent", name, {}, opts);

    const appName = args.appName ?? name;
    const uid = args.runAsUser ?? 10001;
    const image = imageReference(args.image);
    const labels = appLabels(appName, {
      version: args.image.tag ?? args.image.digest,
      environment: args.environment,
      partOf: "pulumi-gitops",
    });
    const stable = appLabels(appName, { environment: args.environment, partOf: "pulumi-gitops" }).all;
    const annotations = controlAnnotations(args);
    const child = { parent: this };

    this.namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: args.namespaceName ?? name,
          labels: {
            ...stable,
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
          },
          annotations,
        },
      },
      child,
    );
    const ns = this.namespace.metadata.name;
    const metadata = (objectName: string, versioned = false) => ({
      name: objectName,
      namespace: ns,
      labels: versioned ? labels.all : stable,
      annotations,
    });

    // The API server refuses a second pod, whatever scales the Deployment or whoever runs one by hand.
    this.quota = new k8s.core.v1.ResourceQuota(`${name}-quota`, { metadata: metadata("one-agent"), spec: { hard: { pods: "1" } } }, child);

    this.serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-service-account`,
      {
        metadata: { ...metadata(appName), annotations: { ...args.serviceAccountAnnotations, ...annotations } },
        automountServiceAccountToken: false,
      },
      child,
    );

    this.image = image;
    this.args = agentArgs({ ...args, webhook: args.webhookSecret !== undefined, persistentState: args.workVolumeClaim !== undefined });
    const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
      httpGet: { path, port: "metrics" },
      periodSeconds,
      timeoutSeconds: 5,
      failureThreshold,
    });
    const resources = args.resources ?? { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "2", memory: "2Gi" } };

    const volumes: k8s.types.input.core.v1.Volume[] = [
      args.workVolumeClaim !== undefined
        ? { name: "work", persistentVolumeClaim: { claimName: args.workVolumeClaim } }
        : { name: "work", emptyDir: { sizeLimit: args.workSizeLimit ?? DEFAULT_WORK_SIZE_LIMIT } },
      { name: "home", emptyDir: { sizeLimit: HOME_SIZE_LIMIT } },
      { name: "tmp", emptyDir: { sizeLimit: "1Gi" } },
    ];
    const mounts: k8s.types.input.core.v1.VolumeMount[] = [
      { name: "work", mountPath: AGENT_WORK_DIR },
      { name: "home", mountPath: AGENT_HOME },
      { name: "tmp", mountPath: "/tmp" },
    ];
    if (args.gitCredentialsSecret !== undefined) {
      volumes.push({
        name: "git-credentials",
        secret: {
          secretName: args.gitCredentialsSecret,
          items: [{ key: ".git-credentials", path: ".git-credentials" }],
          defaultMode: 0o440,
        },
      });
      mounts.push({ name: "git-credentials", mountPath: GIT_CREDENTIALS_DIR, readOnly: true });
    }
    if (args.webhookSecret !== undefined) {
      volumes.push({
        name: "webhook-secret",
        secret: {
          secretName: args.webhookSecret.name,
          items: [{ key: args.webhookSecret.key, path: WEBHOOK_SECRET_FILE }],
          defaultMode: 0o440,
        },
      });
      mounts.push({ name: "webhook-secret", mountPath: WEBHOOK_SECRET_DIR, readOnly: true });
    }

    this.deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: metadata(appName, true),
        spec: {
          // One agent, ever: never scaled, and never two during a rollout.
          replicas: 1,
          strategy: { type: "Recreate" },
          selector: { matchLabels: labels.selector },
          template: {
            metadata: { labels: labels.all },
            spec: {
              serviceAccountName: appName,
              automountServiceAccountToken: args.automountServiceAccountToken ?? false,
              enableServiceLinks: false,
              // The agent finishes or cancels the running operation within --shutdown-timeout.
              terminationGracePeriodSeconds: terminationGraceSeconds(args.shutdownTimeout),
              imagePullSecrets: args.imagePullSecrets?.map((secret) => ({ name: secret })),
              securityContext: {
                runAsNonRoot: true,
                runAsUser: uid,
                runAsGroup: uid,
                fsGroup: uid,
                seccompProfile: { type: "RuntimeDefault" },
              },
              containers: [
                {
                  name: "agent",
                  image,
                  command: [...(args.command ?? DEFAULT_AGENT_COMMAND)],
                  args: [...this.args],
                  workingDir: args.workingDir ?? "/app",
                  ports: [{ name: "metrics", containerPort: AGENT_PORT, protocol: "TCP" }],
                  env: agentEnv(args),
                  resources: { requests: { ...resources.requests }, limits: { ...resources.limits } },
                  // Up to two minutes to start listening (tsx compiles the CLI first).
                  startupProbe: probe("/healthz", 5, 24),
                  // Generous: a restart in the middle of an update leaves a pending operation.
                  livenessProbe: probe("/healthz", 20, 6),
                  readinessProbe: probe("/readyz", 10, 1),
                  securityContext: hardenedContainerSecurityContext(),
                  volumeMounts: mounts,
                },
              ],
              volumes,
            },
          },
        },
      },
      { parent: this, dependsOn: [this.quota, this.serviceAccount] },
    );

    this.service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: {
          ...metadata(appName),
          annotations: {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": String(AGENT_PORT),
            "prometheus.io/path": "/metrics",
            ...annotations,
          },
        },
        spec: {
          type: "ClusterIP",
          selector: labels.selector,
          ports: [{ name: "metrics", port: AGENT_PORT, targetPort: "metrics", protocol: "TCP" }],
        },
      },
      child,
    );

    // The agent's port serves the scraper and the webhooks; nothing else may reach it. Kubelet
    // probes come from the node, which NetworkPolicy does not filter.
    const port = [{ port: AGENT_PORT, protocol: "TCP" }];
    const sources = [
      args.metricsFrom ?? DEFAULT_METRICS_FROM,
      args.webhookSecret !== undefined ? (args.webhookFrom ?? DEFAULT_WEBHOOK_FROM) : [],
    ];
    this.networkPolicy = new k8s.networking.v1.NetworkPolicy(
      `${name}-network-policy`,
      {
        metadata: metadata(appName),
        spec: {
          podSelector: { matchLabels: labels.selector },
          policyTypes: ["Ingress"],
          ingress: sources.filter((from) => from.length).map((from) => ({ from: [...from], ports: port })),
        },
      },
      child,
    );

    this.namespaceName = ns;
    this.serviceAccountName = this.serviceAccount.metadata.name;
    this.serviceName = this.service.metadata.name;
    this.url = pulumi.interpolate`http://${this.serviceName}.${this.namespaceName}.svc.cluster.local:${AGENT_PORT}`;
    this.registerOutputs({
      namespaceName: this.namespaceName,
      serviceAccountName: this.serviceAccountName,
      serviceName: this.serviceName,
      url: this.url,
      image,
    });
  }
}
