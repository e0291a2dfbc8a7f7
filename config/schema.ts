/**
 * The stack-config schema shared by the program (index.ts) and the runner.
 *
 * A stack file's `config:` map holds only keys of this project's namespace, `pulumi-gitops:<key>`.
 * Keys of other namespaces (`aws:region`, `kubernetes:context`, ...) are rejected on purpose: the
 * program builds explicit providers from `pulumi-gitops:kubernetes` and `pulumi-gitops:aws`, so a
 * provider setting elsewhere would be silently ignored, which is worse than an error.
 */
import type { FromSchema } from "json-schema-to-ts";
import { BRANCH, DNS_LABEL, DNS_LABEL_MAX, GITHUB_ENVIRONMENT, GITHUB_REPOSITORY, IMAGE_DIGEST, S3_BUCKET } from "./patterns";

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

/** The only keys whose values may be secrets: what a secret makes sense for. */
export const SECRET_KEY = new RegExp(`^${NAMESPACE}:app\\.env\\.[A-Z_][A-Z0-9_]*$`);

/** `pulumi-gitops:<name>`, the key of a setting in a stack file (typed, so the schema's type knows its keys). */
export const settingKey = <K extends string>(name: K) => `${NAMESPACE}:${name}` as const;
const k = settingKey;

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
        mode: {
          type: "string",
          enum: ["render", "cluster"],
          description: "render: write manifests to files instead of talking to a cluster (works offline)",
        },
        renderDir: {
          type: "string",
          minLength: 1,
          description: "render mode: directory relative to the repository root, e.g. rendered/dev",
        },
        kubeconfig: {
          type: "string",
          minLength: 1,
          description: "cluster mode: path to a kubeconfig file; absent = the provider's default (KUBECONFIG, ~/.kube/config)",
        },
        context: { type: "string", minLength: 1, description: "cluster mode: kubeconfig context; absent = the current context" },
        skipAwait: {
          type: "boolean",
          description: "cluster mode: don't wait for readiness (pulumi.com/skipAwait), for test clusters without kubelets",
        },
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
          description: "Hard quota for the namespace (sum over all pods)",
        },
        containerDefaults: {
          type: "object",
          additionalProperties: false,
          required: ["requests", "limits"],
          properties: { requests: cpuMemory, limits: cpuMemory },
          description: "Defaults the LimitRange applies to containers that set none",
        },
        allowIngressFromNamespaces: {
          type: "array",
          items: dnsLabel,
          uniqueItems: true,
          description: "Namespaces allowed to reach pods here (e.g. the ingress controller's)",
        },
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
        replicas: {
          type: "integer",
          minimum: 0,
          maximum: 100,
          description: "Fixed replica count; exactly one of replicas and autoscaling is required",
        },
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
        port: { type: "integer", minimum: 1024, maximum: 65535, description: "Container port the app listens on" },
        healthPath: { type: "string", pattern: "^/", description: "HTTP path of the liveness and readiness probes" },
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
          description: "Public hostname; absent = no Ingress",
        },
        disruptionBudget: {
          type: "object",
          additionalProperties: false,
          properties: {
            minAvailable: { type: "integer", minimum: 0 },
            maxUnavailable: { type: "integer", minimum: 1 },
          },
          description: "PodDisruptionBudget, exactly one of the two; absent = none",
        },
        env: {
          type: "object",
          propertyNames: { pattern: "^[A-Z_][A-Z0-9_]*$" },
          additionalProperties: { anyOf: [{ type: "string" }, secureValue] },
          description: "Extra environment variables; a value may be a secret, passed from a Kubernetes Secret",
        },
      },
    },
    [k("aws")]: {
      type: "object",
      additionalProperties: false,
      required: ["region"],
      properties: {
        region: { type: "string", pattern: "^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", description: "AWS region, e.g. eu-west-1" },
        profile: { type: "string", minLength: 1, description: "Named profile in ~/.aws/config; absent = the default credential chain" },
        bucket: {
          type: "object",
          additionalProperties: false,
          required: ["noncurrentVersionRetentionDays"],
          properties: {
            noncurrentVersionRetentionDays: { type: "integer", minimum: 1, description: "Days to keep non-current object versions" },
            expirationDays: { type: "integer", minimum: 1, description: "Days after which current objects expire; absent = never" },
            kmsKeyArn: {
              type: "string",
              pattern: "^arn:aws[a-z-]*:kms:",
              description: "KMS key for server-side encryption; absent = SSE-S3 (AES256)",
            },
          },
        },
        deployer: {
          type: "object",
          additionalProperties: false,
          required: ["repository", "stateBucket", "applyPolicyArns"],
          properties: {
            repository: { type: "string", pattern: GITHUB_REPOSITORY.source, description: "GitHub repository owner/name" },
            branch: {
              type: "string",
              pattern: BRANCH.source,
              description: "Protected branch whose scheduled drift checks may read; absent = main",
            },
            environment: {
              type: "string",
              pattern: GITHUB_ENVIRONMENT.source,
              description: "GitHub environment whose jobs may apply; absent = the shipped apply workflow's",
            },
            stateBucket: {
              type: "string",
              pattern: S3_BUCKET.source,
              description: "S3 bucket of the Pulumi state, whose objects the preview role may not read",
            },
            applyPolicyArns: {
              type: "array",
              minItems: 1,
              uniqueItems: true,
              items: { type: "string", pattern: "^arn:aws[a-z-]*:iam::" },
              description: "Managed policies attached to the apply role",
            },
            oidcProviderArn: {
              type: "string",
              pattern: "^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/",
              description: "ARN of an existing GitHub OIDC provider; exactly one of this and createOidcProvider",
            },
            createOidcProvider: { type: "boolean" },
          },
        },
      },
    },
  },
} as const;

/** A stack file's whole `config:` map as the schema admits it: a secret is still `{secure: <ciphertext>}`. */
export type StackConfigValues = FromSchema<typeof stackConfigSchema>;
/** The value of the setting `pulumi-gitops:<K>`. */
type Setting<K extends string> = StackConfigValues[ReturnType<typeof settingKey<K>> & keyof StackConfigValues];

export type CpuMemory = FromSchema<typeof cpuMemory>;
export type NamespaceConfig = Setting<"namespace">;
export type AppConfig = Setting<"app">;
export type AwsConfig = NonNullable<Setting<"aws">>;
/** `pulumi-gitops:kubernetes` as the schema admits it. */
export type KubernetesSetting = Setting<"kubernetes">;

/**
 * Where Kubernetes resources go: {@link KubernetesSetting} as the cross-field rules leave it. A
 * render target has its directory and nothing of a cluster's.
 */
export type KubernetesTarget =
  | ({ mode: "render" } & Required<Pick<KubernetesSetting, "renderDir">>)
  | ({ mode: "cluster" } & Omit<KubernetesSetting, "mode" | "renderDir">);

/** A stack's validated configuration, keys without the `pulumi-gitops:` prefix. */
export interface StackConfig {
  environment: Setting<"environment">;
  kubernetes: KubernetesTarget;
  namespace: NamespaceConfig;
  app: AppConfig;
  /** Absent = AWS off (no AWS provider, no AWS resources). */
  aws?: AwsConfig;
  /** The keys whose values are secrets in the stack file, e.g. `pulumi-gitops:app.env.API_TOKEN`. */
  secrets?: string[];
}
