/**
 * The one typed config loader of the program and the runner.
 *
 * Every stack file is validated against {@link stackConfigSchema} plus a few cross-field rules, and
 * EVERY problem is reported at once with its file and key. No process.env / process.cwd here: the
 * caller says which repository and which stack.
 */
import * as path from "node:path";
import {
  type KubernetesSetting,
  type KubernetesTarget,
  NAMESPACE,
  SECRET_KEY,
  settingKey,
  type StackConfig,
  stackConfigSchema,
  type StackConfigValues,
} from "./schema";
import { ajv, type ConfigProblem, formatProblems, readYamlMapping, schemaProblem } from "./load";

export * from "./load";
export * from "./patterns";
export * from "./rules";
export * from "./schema";

/** Thrown by the program before it creates anything when a stack's config is invalid. */
export class StackConfigError extends Error {
  declare readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(`invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` + formatProblems(problems));
    this.name = "StackConfigError";
    // The user fixes a file, not code: print the problems, not a stack trace or an object dump.
    Object.defineProperty(this, "problems", { value: problems, enumerable: false });
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** The stack file of `stack`, relative to the repository root. */
export function stackFileName(stack: string): string {
  return `stacks/Pulumi.${stack}.yaml`;
}

const validateSchema = ajv.compile<StackConfigValues>(stackConfigSchema);

/** Where to set what people most often put under another namespace. */
const foreignKeyHints: Record<string, string> = {
  "aws:region": `set ${NAMESPACE}:aws.region instead`,
  "aws:profile": `set ${NAMESPACE}:aws.profile instead`,
  "kubernetes:kubeconfig": `set ${NAMESPACE}:kubernetes.kubeconfig instead`,
  "kubernetes:context": `set ${NAMESPACE}:kubernetes.context instead`,
};

/** An unknown top-level key: a setting of ours that does not exist, or another namespace's. */
function unknownSetting(name: string): string {
  if (name.startsWith(`${NAMESPACE}:`)) return "is not a known setting";
  const hint = foreignKeyHints[name];
  return `only ${NAMESPACE}:* keys are allowed${hint ? `; ${hint}` : ""}`;
}

/** Kubernetes quantity to a number (cores for CPU, bytes for memory); NaN when unparsable. */
export function parseQuantity(q: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/.exec(q);
  if (!m) return NaN;
  const factor: Record<string, number> = {
    "": 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  return Number(m[1]) * factor[m[2] ?? ""];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the checks below read a file Ajv has not validated yet
const isObj = (v: unknown): v is Record<string, any> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The keys whose values are secrets (`{secure: <ciphertext>}` in the file), as problems name keys:
 * `pulumi-gitops:app.env.API_TOKEN`.
 */
export function secretPaths(values: unknown, at = ""): string[] {
  if (Array.isArray(values)) return values.flatMap((v, i) => secretPaths(v, `${at}[${i}]`));
  if (!isObj(values)) return [];
  const keys = Object.keys(values);
  if (at && keys.length === 1 && keys[0] === "secure" && typeof values.secure === "string") return [at];
  return keys.flatMap((k) => secretPaths(values[k], at ? `${at}.${k}` : k));
}

/** Cross-field rules a JSON schema says badly; run over the raw values, defensively. */
function ruleProblems(file: string, values: Record<string, unknown>, secrets: string[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const add = (key: string, message: string) => out.push({ file, key: `${NAMESPACE}:${key}`, message });

  const render =
    isObj(values[`${NAMESPACE}:kubernetes`]) && (values[`${NAMESPACE}:kubernetes`] as Record<string, unknown>).mode === "render";
  for (const key of secrets) {
    if (!SECRET_KEY.test(key)) out.push({ file, key, message: `cannot be a secret: only ${NAMESPACE}:app.env values can` });
    // Rendered manifests are plain files: a Secret in them holds its value in clear text.
    else if (render)
      out.push({
        file,
        key,
        message:
          "is a secret, but a render-mode stack writes its manifests in clear text to renderDir: use secrets on a cluster target (mode: cluster)",
      });
  }

  const kube = values[`${NAMESPACE}:kubernetes`];
  if (isObj(kube)) {
    if (kube.mode === "render") {
      if (kube.renderDir === undefined) add("kubernetes.renderDir", "is required when mode is render");
      else if (typeof kube.renderDir === "string" && (path.isAbsolute(kube.renderDir) || kube.renderDir.split(/[\\/]/).includes("..")))
        add("kubernetes.renderDir", "must be a path inside the repository, relative to its root (e.g. rendered/dev)");
      for (const key of ["kubeconfig", "context", "skipAwait"])
        if (key in kube) add(`kubernetes.${key}`, "is only allowed when mode is cluster");
    } else if (kube.mode === "cluster" && "renderDir" in kube) {
      add("kubernetes.renderDir", "is only allowed when mode is render");
    }
  }

  const app = values[`${NAMESPACE}:app`];
  if (isObj(app)) {
    if (isObj(app.image)) {
      const has = (k: string) => app.image[k] !== undefined;
      if (has("tag") && has("digest")) add("app.image", "set exactly one of tag and digest, not both");
      if (!has("tag") && !has("digest")) add("app.image", "set exactly one of tag and digest");
    }
    const hasReplicas = app.replicas !== undefined;
    const hasScaling = app.autoscaling !== undefined;
    if (hasReplicas && hasScaling)
      add("app.replicas", "must not be set together with app.autoscaling (the autoscaler owns the replica count)");
    if (!hasReplicas && !hasScaling) add("app.replicas", "is required (or set app.autoscaling)");
    if (
      isObj(app.autoscaling) &&
      typeof app.autoscaling.minReplicas === "number" &&
      app.autoscaling.minReplicas > app.autoscaling.maxReplicas
    )
      add("app.autoscaling.minReplicas", "must not exceed maxReplicas");
    if (isObj(app.disruptionBudget)) {
      const n = ["minAvailable", "maxUnavailable"].filter((k) => app.disruptionBudget[k] !== undefined).length;
      if (n !== 1) add("app.disruptionBudget", "set exactly one of minAvailable and maxUnavailable");
    }
    if (isObj(app.resources) && isObj(app.resources.requests) && isObj(app.resources.limits)) {
      for (const r of ["cpu", "memory"]) {
        const req = parseQuantity(String(app.resources.requests[r]));
        const lim = parseQuantity(String(app.resources.limits[r]));
        if (req > lim) add(`app.resources.requests.${r}`, `must not exceed the limit (${app.resources.limits[r]})`);
      }
    }
    const ns = values[`${NAMESPACE}:namespace`];
    const most = hasScaling && isObj(app.autoscaling) ? app.autoscaling.maxReplicas : app.replicas;
    if (isObj(ns) && isObj(ns.quota) && typeof ns.quota.pods === "number" && typeof most === "number" && most > ns.quota.pods)
      add("namespace.quota.pods", `must allow at least the app's ${most} replicas`);
  }

  const aws = values[`${NAMESPACE}:aws`];
  if (isObj(aws) && isObj(aws.deployer)) {
    const byArn = aws.deployer.oidcProviderArn !== undefined;
    const create = aws.deployer.createOidcProvider === true;
    if (byArn && create) add("aws.deployer", "set exactly one of oidcProviderArn and createOidcProvider: true, not both");
    if (!byArn && !create) add("aws.deployer", "set oidcProviderArn (existing provider) or createOidcProvider: true");
  }
  return out;
}

/**
 * What real infrastructure a stack's `config:` map targets: a Kubernetes cluster (`mode: cluster`)
 * and/or an AWS account; none for a render-mode stack without AWS.
 */
export function realTargets(values: Record<string, unknown>): string[] {
  const kube = values[`${NAMESPACE}:kubernetes`];
  const out: string[] = [];
  if (isObj(kube) && kube.mode === "cluster") out.push("a Kubernetes cluster");
  if (values[`${NAMESPACE}:aws`] !== undefined) out.push("an AWS account");
  return out;
}

/**
 * Validates one stack's `config:` map (as parsed from YAML: objects already parsed).
 * Returns the typed config only when there are no problems.
 */
export function validateStackConfig(
  file: string,
  values: Record<string, unknown>,
  secrets: string[] = secretPaths(values),
): { config?: StackConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const valid = validateSchema(values);
  if (!valid) {
    // A branch of an anyOf says only what that branch wanted; the anyOf's own problem says it all.
    // A secret where none may be is told once, by the rules below.
    const errors = (validateSchema.errors ?? []).filter((e) => !e.schemaPath.includes("/anyOf/"));
    problems.push(
      ...errors
        .map((e) => schemaProblem(file, e, unknownSetting))
        .filter((p) => !secrets.some((k) => p.key === k || p.key.startsWith(`${k}.`))),
    );
  }
  problems.push(...ruleProblems(file, values, secrets));
  if (!valid || problems.length > 0) return { problems };
  const aws = values[settingKey("aws")];
  const config: StackConfig = {
    environment: values[settingKey("environment")],
    kubernetes: kubernetesTarget(values[settingKey("kubernetes")]),
    namespace: values[settingKey("namespace")],
    app: values[settingKey("app")],
    ...(aws === undefined ? {} : { aws }),
    ...(secrets.length ? { secrets } : {}),
  };
  return { config, problems };
}

/** The cross-field rules have given a render target its directory and nothing of a cluster's. */
function kubernetesTarget({ mode, renderDir, ...cluster }: KubernetesSetting): KubernetesTarget {
  return mode === "render" ? { mode, renderDir: renderDir! } : { mode, ...cluster };
}

/**
 * The secret keys of `stacks/Pulumi.<stack>.yaml` under `repoDir`: the engine hands the program
 * their values decrypted, and only the file says which they were. None when it cannot be read.
 */
export function stackFileSecrets(repoDir: string, stack: string): string[] {
  const { root } = readYamlMapping(repoDir, stackFileName(stack), { what: "stack file" });
  return root ? secretPaths(root.config ?? {}) : [];
}

/** Reads and validates `stacks/Pulumi.<stack>.yaml` under `repoDir`. */
export function readStackFile(
  repoDir: string,
  stack: string,
): { file: string; values: Record<string, unknown>; problems: ConfigProblem[] } {
  const file = stackFileName(stack);
  const { root, problems } = readYamlMapping(repoDir, file, { what: "stack file" });
  if (!root) return { file, values: {}, problems };
  const values = root.config ?? {};
  if (!isObj(values)) return { file, values: {}, problems: [{ file, key: "config", message: "must be a mapping of keys to values" }] };
  return { file, values, problems: validateStackConfig(file, values).problems };
}

/**
 * Turns the engine's config (`pulumi.runtime.allConfig()`: every value a string, objects as JSON)
 * back into the shape the YAML file had.
 */
export function fromEngineConfig(all: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(all)) {
    let value: unknown = raw;
    if (/^\s*[[{]/.test(raw)) {
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw;
      }
    }
    out[key] = value;
  }
  return out;
}

/** Inverse of {@link fromEngineConfig}: what the engine would hand the program for these values. */
export function toEngineConfig(values: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) out[key] = typeof value === "string" ? value : JSON.stringify(value);
  return out;
}

/** Validates or throws {@link StackConfigError}: what the program does before creating anything. */
export function loadStackConfig(file: string, values: Record<string, unknown>, secrets?: string[]): StackConfig {
  const { config, problems } = validateStackConfig(file, values, secrets);
  if (!config) throw new StackConfigError(problems);
  return config;
}
