/**
 * The stack-config schema shared by the program (index.ts) and the runner.
 *
 * A stack file's `config:` map holds only keys of this project's namespace, `pulumi-gitops:<key>`.
 * Keys of other namespaces (`aws:region`, `kubernetes:context`, ...) are rejected on purpose: the
 * program builds explicit providers from `pulumi-gitops:kubernetes` and `pulumi-gitops:aws`, so a
 * provider setting elsewhere would be silently ignored, which is worse than an error.
 */
import { BRANCH, DNS_LABEL, DNS_LABEL_MAX, GITHUB_REPOSITORY, IMAGE_DIGEST } from "./patterns";

/** Prefix of every key a stack file may hold. */
export const NAMESPACE = "pulumi-gitops";

/** Kubernetes quantity such as `250m`, `1`, `512Mi`, `2Gi`. */
const quantity = { type: "string", pattern: "^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$" } as const;
/** RFC 1123 label: lower-case DNS name of at most 63 characters. */
const dnsLabel = { type: "string", pattern: DNS_LABEL.source, maxLength: DNS_LABEL_MAX } as const;
/** A value `pulumi config set --secret` made: the file holds only its ciphertext. */
const secureValue = {
  type: "object",
  additionalProperties: false,
  required: ["secure"],
  properties: { secure: { type: "string", minLength: 1 } },
} as const;
const cpuMemory = {
  type: "object",
  additionalProperties: false,
  required: ["cpu", "memory"],
  properties: { cpu: quantity, memory: quantity },
} as const;

export interface CpuMemory {
  cpu: string;
  memory: string;
}

/** `pulumi-gitops:kubernetes`: where Kubernetes resources go. */
export type KubernetesTarget =
  | {
      /** Write manifests to files instead of talking to a cluster (works offline). */
      mode: "render";
      /** Directory relative to the repository root, e.g. `rendered/dev`. */
      renderDir: string;
    }
  | {
      mode: "cluster";
      /** Path to a kubeconfig file; absent = the provider's default (KUBECONFIG, ~/.kube/config). */
      kubeconfig?: string;
      /** kubeconfig context; absent = the current context. */
      context?: string;
      /** Don't wait for readiness (`pulumi.com/skipAwait`), for test clusters without kubelets. */
      skipAwait?: boolean;
    };

export interface NamespaceConfig {
  /** Namespace name. */
  name: string;
  /** Hard quota for the namespace (sum over all pods). */
  quota: { requests: CpuMemory; limits: CpuMemory; pods: number };
  /** Defaults applied by the LimitRange to containers that set none. */
  containerDefaults?: { requests: CpuMemory; limits: CpuMemory };
  /** Namespaces allowed to reach pods here (e.g. the ingress controller's). */
  allowIngressFromNamespaces?: string[];
}

export interface AppConfig {
  /** Application name: Deployment, Service and labels. */
  name: string;
  image: { repository: string; tag?: string; digest?: string };
  /** Fixed replica count; exactly one of `replicas` and `autoscaling` is required. */
  replicas?: number;
  autoscaling?: { minReplicas: number; maxReplicas: number; targetCpuUtilizationPercent: number };
  /** Container port the app listens on. */
  port: number;
  /** HTTP path of the liveness and readiness probes. */
  healthPath?: string;
  resources: { requests: CpuMemory; limits: CpuMemory };
  /** Public hostname; absent = no Ingress. */
  ingress?: { host: string; className?: string; tlsSecretName?: string };
  /** PodDisruptionBudget; absent = none. */
  disruptionBudget?: { minAvailable?: number; maxUnavailable?: number };
  /**
   * Extra environment variables. A value may be a secret (`secure:` in the file); the program then
   * passes it from a Kubernetes Secret, see {@link StackConfig.secrets}.
   */
  env?: Record<string, string>;
}

export interface AwsConfig {
  /** AWS region, e.g. `eu-west-1`. */
  region: string;
  /** Named profile in ~/.aws/config; absent = the default credential chain. */
  profile?: string;
  bucket?: {
    /** Days to keep non-current object versions. */
    noncurrentVersionRetentionDays: number;
    /** Days after which current objects expire; absent = never. */
    expirationDays?: number;
    /** KMS key for server-side encryption; absent = SSE-S3 (AES256). */
    kmsKeyArn?: string;
  };
  deployer?: {
    /** GitHub repository `owner/name`. */
    repository: string;
    /** Protected branch whose workflows may apply. */
    branch: string;
    /** Managed policies attached to the apply role. */
    applyPolicyArns: string[];
    /** ARN of an existing GitHub OIDC provider; exactly one of this and `createOidcProvider`. */
    oidcProviderArn?: string;
    createOidcProvider?: boolean;
  };
}

/** A stack's validated configuration, keys without the `pulumi-gitops:` prefix. */
export interface StackConfig {
  environment: string;
  kubernetes: KubernetesTarget;
  namespace: NamespaceConfig;
  app: AppConfig;
  /** Absent = AWS off (no AWS provider, no AWS resources). */
  aws?: AwsConfig;
  /** The keys whose values are secrets in the stack file, e.g. `pulumi-gitops:app.env.API_TOKEN`. */
  secrets?: string[];
}

/** The only keys whose values may be secrets: what a secret makes sense for. */
export const SECRET_KEY = new RegExp(`^${NAMESPACE}:app\\.env\\.[A-Z_][A-Z0-9_]*$`);

const k = (key: string) => `${NAMESPACE}:${key}`;

/** JSON schema of a stack file's whole `config:` map (ajv, draft-07). */
export const stackConfigSchema = {
  type: "object",
  additionalProperties: false,
  required: [k("environment"), k("kubernetes"), k("namespace"), k("app")],
  properties: {
    [k("environment")]: dnsLabel,
    [k("kubernetes")]: {
      type: "object",
      additionalProperties: false,
      required: ["mode"],
      properties: {
        mode: { type: "string", enum: ["render", "cluster"] },
        renderDir: { type: "string", minLength: 1 },
        kubeconfig: { type: "string", minLength: 1 },
        context: { type: "string", minLength: 1 },
        skipAwait: { type: "boolean" },
      },
    },
    [k("namespace")]: {
      type: "object",
      additionalProperties: false,
      required: ["name", "quota"],
      properties: {
        name: dnsLabel,
        quota: {
          type: "object",
          additionalProperties: false,
          required: ["requests", "limits", "pods"],
          properties: { requests: cpuMemory, limits: cpuMemory, pods: { type: "integer", minimum: 1 } },
        },
        containerDefaults: {
          type: "object",
          additionalProperties: false,
          required: ["requests", "limits"],
          properties: { requests: cpuMemory, limits: cpuMemory },
        },
        allowIngressFromNamespaces: { type: "array", items: dnsLabel, uniqueItems: true },
      },
    },
    [k("app")]: {
      type: "object",
      additionalProperties: false,
      required: ["name", "image", "port", "resources"],
      properties: {
        name: dnsLabel,
        image: {
          type: "object",
          additionalProperties: false,
          required: ["repository"],
          properties: {
            repository: { type: "string", pattern: "^[a-z0-9]+([._/:-][a-z0-9]+)*$" },
            tag: { type: "string", pattern: "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$" },
            digest: { type: "string", pattern: IMAGE_DIGEST.source },
          },
        },
        replicas: { type: "integer", minimum: 0, maximum: 100 },
        autoscaling: {
          type: "object",
          additionalProperties: false,
          required: ["minReplicas", "maxReplicas", "targetCpuUtilizationPercent"],
          properties: {
            minReplicas: { type: "integer", minimum: 1, maximum: 100 },
            maxReplicas: { type: "integer", minimum: 1, maximum: 100 },
            targetCpuUtilizationPercent: { type: "integer", minimum: 1, maximum: 100 },
          },
        },
        port: { type: "integer", minimum: 1024, maximum: 65535 },
        healthPath: { type: "string", pattern: "^/" },
        resources: {
          type: "object",
          additionalProperties: false,
          required: ["requests", "limits"],
          properties: { requests: cpuMemory, limits: cpuMemory },
        },
        ingress: {
          type: "object",
          additionalProperties: false,
          required: ["host"],
          properties: {
            host: { type: "string", pattern: "^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z]{2,}$" },
            className: dnsLabel,
            tlsSecretName: dnsLabel,
          },
        },
        disruptionBudget: {
          type: "object",
          additionalProperties: false,
          properties: {
            minAvailable: { type: "integer", minimum: 0 },
            maxUnavailable: { type: "integer", minimum: 1 },
          },
        },
        env: {
          type: "object",
          propertyNames: { pattern: "^[A-Z_][A-Z0-9_]*$" },
          additionalProperties: { anyOf: [{ type: "string" }, secureValue] },
        },
      },
    },
    [k("aws")]: {
      type: "object",
      additionalProperties: false,
      required: ["region"],
      properties: {
        region: { type: "string", pattern: "^[a-z]{2}(-gov)?-[a-z]+-[0-9]$" },
        profile: { type: "string", minLength: 1 },
        bucket: {
          type: "object",
          additionalProperties: false,
          required: ["noncurrentVersionRetentionDays"],
          properties: {
            noncurrentVersionRetentionDays: { type: "integer", minimum: 1 },
            expirationDays: { type: "integer", minimum: 1 },
            kmsKeyArn: { type: "string", pattern: "^arn:aws[a-z-]*:kms:" },
          },
        },
        deployer: {
          type: "object",
          additionalProperties: false,
          required: ["repository", "branch", "applyPolicyArns"],
          properties: {
            repository: { type: "string", pattern: GITHUB_REPOSITORY.source },
            branch: { type: "string", pattern: BRANCH.source },
            applyPolicyArns: {
              type: "array",
              minItems: 1,
              uniqueItems: true,
              items: { type: "string", pattern: "^arn:aws[a-z-]*:iam::" },
            },
            oidcProviderArn: { type: "string", pattern: "^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/" },
            createOidcProvider: { type: "boolean" },
          },
        },
      },
    },
  },
} as const;
