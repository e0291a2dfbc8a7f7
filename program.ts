/**
 * The program: validated stack config in, providers and components out. index.ts is a thin shell
 * around {@link runProgram}; tests call the same function under mocks.
 */
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as aws from "@pulumi/aws";
import { fromEngineConfig, loadStackConfig, NAMESPACE, stackFileName, stackFileSecrets, StackConfig } from "./config";
import { ArtifactBucket } from "./components/artifactBucket";
import { DeployerRole } from "./components/deployerRole";
import { TenantNamespace } from "./components/tenantNamespace";
import { WebService } from "./components/webService";

export interface StackOutputs {
  environment: string;
  /** Namespace the app runs in. */
  namespace: pulumi.Output<string>;
  /** Kubernetes Service name. */
  serviceName: pulumi.Output<string>;
  /** In-cluster URL of the service. */
  url: pulumi.Output<string>;
  /** Image reference deployed. */
  image: string;
  /** Fixed replica count, or the autoscaler's minimum. */
  replicas: number;
  /** The autoscaler's maximum, when autoscaling. */
  maxReplicas?: number;
  /** Public hostname, when an Ingress is configured. */
  host?: string;
  /** Directory manifests are rendered to (render mode only). */
  renderDir?: string;
  /** Artifact bucket name (AWS enabled with a bucket). */
  bucketName?: pulumi.Output<string>;
  /** Apply role ARN (AWS enabled with a deployer). */
  applyRoleArn?: pulumi.Output<string>;
  /** Preview role ARN (AWS enabled with a deployer). */
  previewRoleArn?: pulumi.Output<string>;
  /** Drift role ARN (AWS enabled with a deployer). */
  driftRoleArn?: pulumi.Output<string>;
}

/** Where the program runs: the repository root for relative paths, and the home directory for `~/`. */
export interface ProgramContext {
  root: string;
  home: string;
  /** The stack file's secret keys: the engine's config has their values, decrypted, but not which they are. */
  secrets?: string[];
}

/** `~/x` -> home/x, relative -> root/x, absolute unchanged; undefined stays undefined (provider default). */
export function resolveKubeconfig(p: string | undefined, ctx: ProgramContext): string | undefined {
  if (p === undefined) return undefined;
  if (p === "~" || p.startsWith("~/")) return path.join(ctx.home, p.slice(1));
  return path.isAbsolute(p) ? p : path.join(ctx.root, p);
}

/** Arguments of the Kubernetes provider for a target (always enableConfigMapMutable). */
export function kubernetesProviderArgs(target: StackConfig["kubernetes"], ctx: ProgramContext): k8s.ProviderArgs {
  if (target.mode === "render") return { renderYamlToDirectory: path.join(ctx.root, target.renderDir), enableConfigMapMutable: true };
  return { kubeconfig: resolveKubeconfig(target.kubeconfig, ctx), context: target.context, enableConfigMapMutable: true };
}

/** Creates every provider and component of a stack from its validated config. */
export function composeStack(config: StackConfig, ctx: ProgramContext): StackOutputs {
  const env = config.environment;
  const kubeProvider = new k8s.Provider("kubernetes", kubernetesProviderArgs(config.kubernetes, ctx));
  const skipAwait = config.kubernetes.mode === "cluster" && config.kubernetes.skipAwait === true;
  // On a live cluster git owns the fields it declares; rendered manifests have no other manager.
  const forceOwnership = config.kubernetes.mode === "cluster";

  const tenant = new TenantNamespace(
    config.namespace.name,
    {
      quota: config.namespace.quota,
      containerDefaults: config.namespace.containerDefaults,
      allowIngressFromNamespaces: config.namespace.allowIngressFromNamespaces,
      environment: env,
      skipAwait,
      forceOwnership,
    },
    { provider: kubeProvider },
  );

  const app = config.app;
  const secretEnv = new Set((config.secrets ?? []).map((k) => k.slice(`${NAMESPACE}:app.env.`.length)));
  // The engine hands the program every value decrypted: a `secure:` value here would be ciphertext.
  const envEntries = Object.entries(app.env ?? {}).map(([name, value]) => {
    if (typeof value !== "string") throw new Error(`${NAMESPACE}:app.env.${name} reached the program encrypted`);
    return [name, value] as const;
  });
  const web = new WebService(
    app.name,
    {
      namespace: tenant.namespaceName,
      image: app.image,
      replicas: app.autoscaling ? undefined : app.replicas,
      autoscaling: app.autoscaling,
      port: app.port,
      healthPath: app.healthPath,
      resources: app.resources,
      env: app.env && Object.fromEntries(envEntries.filter(([k]) => !secretEnv.has(k))),
      secretEnv: secretEnv.size
        ? Object.fromEntries(envEntries.filter(([k]) => secretEnv.has(k)).map(([k, v]) => [k, pulumi.secret(v)]))
        : undefined,
      ingress: app.ingress,
      disruptionBudget: app.disruptionBudget,
      environment: env,
      skipAwait,
      forceOwnership,
    },
    // The quota and limit defaults must exist before pods are admitted.
    { provider: kubeProvider, dependsOn: [tenant] },
  );

  const outputs: StackOutputs = {
    environment: env,
    namespace: web.namespace,
    serviceName: web.serviceName,
    url: web.url,
    image: web.image,
    replicas: app.autoscaling ? app.autoscaling.minReplicas : (app.replicas ?? 1),
    maxReplicas: app.autoscaling?.maxReplicas,
    host: app.ingress?.host,
    renderDir: config.kubernetes.mode === "render" ? config.kubernetes.renderDir : undefined,
  };

  if (config.aws) {
    const tags = { "pulumi-gitops/environment": env, "app.kubernetes.io/managed-by": "pulumi-gitops" };
    const awsProvider = new aws.Provider("aws", {
      region: config.aws.region as aws.Region,
      profile: config.aws.profile,
      defaultTags: { tags },
    });
    if (config.aws.bucket) {
      const bucket = new ArtifactBucket(`${env}-artifacts`, config.aws.bucket, { provider: awsProvider });
      outputs.bucketName = bucket.bucketName;
    }
    if (config.aws.deployer) {
      const d = config.aws.deployer;
      const deployer = new DeployerRole(
        `${env}-deployer`,
        {
          repository: d.repository,
          branch: d.branch,
          environment: d.environment,
          stateBucket: d.stateBucket,
          applyPolicyArns: d.applyPolicyArns,
          oidcProviderArn: d.oidcProviderArn,
          createOidcProvider: d.createOidcProvider,
        },
        { provider: awsProvider },
      );
      outputs.applyRoleArn = deployer.applyRoleArn;
      outputs.previewRoleArn = deployer.previewRoleArn;
      outputs.driftRoleArn = deployer.driftRoleArn;
    }
  }
  return outputs;
}

/**
 * What index.ts runs: read the engine's config for `stack`, validate it (throwing
 * StackConfigError listing every problem before anything is created), then compose the stack.
 */
export function runProgram(stack: string, engineConfig: Record<string, string>, ctx: ProgramContext): StackOutputs {
  const config = loadStackConfig(stackFileName(stack), fromEngineConfig(engineConfig), ctx.secrets ?? []);
  return composeStack(config, ctx);
}

/**
 * The context of a real run: GITOPS_ROOT (set by the runner) or the working directory, and the
 * secret keys of the stack's file in the program's directory (the engine runs it there).
 */
export function processContext(stack: string): ProgramContext {
  return { root: process.env.GITOPS_ROOT ?? process.cwd(), home: os.homedir(), secrets: stackFileSecrets(process.cwd(), stack) };
}

/** The outputs without the undefined ones (the engine warns about each undefined stack output). */
export function definedOutputs(out: StackOutputs): Partial<StackOutputs> {
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as Partial<StackOutputs>;
}
