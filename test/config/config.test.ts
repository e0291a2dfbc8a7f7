import { describe, it, beforeEach, after } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  ConfigProblem,
  DEFAULT_RULES,
  formatProblem,
  formatProblems,
  fromEngineConfig,
  parseQuantity,
  pointerToKey,
  readRules,
  readStackFile,
  RULES_FILE,
  StackConfigError,
  toEngineConfig,
  validateStackConfig,
} from "../../config";
import { runProgram } from "../../program";
import { installMocks, Registered, settle } from "../components/harness";

const repoRoot = path.join(__dirname, "..", "..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-config-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A repository with one stack file holding `yaml`. */
function repoWith(stack: string, yaml: string): string {
  const dir = fs.mkdtempSync(path.join(tmp, "repo-"));
  fs.mkdirSync(path.join(dir, "stacks"));
  fs.writeFileSync(path.join(dir, "stacks", `Pulumi.${stack}.yaml`), yaml);
  return dir;
}

const validDev = fs.readFileSync(path.join(repoRoot, "stacks", "Pulumi.dev.yaml"), "utf8");
const has = (problems: ConfigProblem[], key: string, message: RegExp) =>
  assert.ok(
    problems.some((p) => p.key === key && message.test(p.message)),
    `expected a problem at ${key} matching ${message}, got:\n${formatProblems(problems)}`,
  );

describe("the committed stacks", () => {
  for (const stack of ["dev", "staging", "prod"])
    it(`${stack} validates`, () => {
      const { file, problems, values } = readStackFile(repoRoot, stack);
      assert.equal(file, `stacks/Pulumi.${stack}.yaml`);
      assert.deepEqual(problems, []);
      const { config } = validateStackConfig(file, values);
      assert.equal(config?.environment, stack);
    });

  it("differ where environments should", () => {
    const cfg = Object.fromEntries(
      ["dev", "staging", "prod"].map((s) => [s, validateStackConfig(s, readStackFile(repoRoot, s).values).config!]),
    );
    assert.equal(cfg.dev.kubernetes.mode, "render");
    assert.equal(cfg.dev.aws, undefined);
    assert.equal(cfg.staging.kubernetes.mode, "cluster");
    assert.equal(cfg.prod.kubernetes.mode, "cluster");
    assert.notEqual(cfg.staging.aws?.region, undefined);
    assert.notEqual(cfg.prod.aws?.region, cfg.staging.aws?.region);
    assert.equal(cfg.dev.app.replicas, 1);
    assert.equal(cfg.staging.app.replicas, 2);
    assert.equal(cfg.prod.app.autoscaling?.minReplicas, 3);
    assert.ok(cfg.prod.app.image.digest && !cfg.prod.app.image.tag);
    assert.notEqual(cfg.staging.app.ingress?.host, cfg.prod.app.ingress?.host);
    assert.ok(cfg.prod.aws!.bucket!.noncurrentVersionRetentionDays > cfg.staging.aws!.bucket!.noncurrentVersionRetentionDays);
  });
});

describe("broken stack files", () => {
  it("reports wrong types, unknown keys and missing values all at once, with file and key", () => {
    const broken = validDev
      .replace("replicas: 1", 'replicas: "three"')
      .replace("port: 8080", "port: 8080\n    colour: blue")
      .replace("  pulumi-gitops:environment: dev\n", "")
      .replace("      tag: 1.4.0-rc.2\n", "")
      .replace("  pulumi-gitops:kubernetes:", "  aws:region: eu-west-1\n  pulumi-gitops:extra: 1\n  pulumi-gitops:kubernetes:");
    const dir = repoWith("broken", broken);
    const { file, problems } = readStackFile(dir, "broken");
    assert.equal(file, "stacks/Pulumi.broken.yaml");
    for (const p of problems) assert.equal(p.file, "stacks/Pulumi.broken.yaml");
    has(problems, "pulumi-gitops:app.replicas", /integer/);
    has(problems, "pulumi-gitops:app.colour", /not a known setting/);
    has(problems, "pulumi-gitops:environment", /is required/);
    has(problems, "pulumi-gitops:app.image", /exactly one of tag and digest/);
    has(problems, "aws:region", /only pulumi-gitops:\* keys.*pulumi-gitops:aws.region/);
    has(problems, "pulumi-gitops:extra", /not a known setting/);
    assert.equal(problems.length, 6, formatProblems(problems));
  });

  const rules: { name: string; edit: (s: string) => string; key: string; message: RegExp }[] = [
    {
      name: "render without renderDir",
      edit: (s) => s.replace("    renderDir: rendered/dev\n", ""),
      key: "pulumi-gitops:kubernetes.renderDir",
      message: /required when mode is render/,
    },
    {
      name: "renderDir escaping the repo",
      edit: (s) => s.replace("renderDir: rendered/dev", "renderDir: ../elsewhere"),
      key: "pulumi-gitops:kubernetes.renderDir",
      message: /inside the repository/,
    },
    {
      name: "context in render mode",
      edit: (s) => s.replace("    renderDir: rendered/dev\n", "    renderDir: rendered/dev\n    context: kind\n"),
      key: "pulumi-gitops:kubernetes.context",
      message: /only allowed when mode is cluster/,
    },
    {
      name: "unknown mode",
      edit: (s) => s.replace("mode: render", "mode: remote"),
      key: "pulumi-gitops:kubernetes.mode",
      message: /one of: render, cluster/,
    },
    {
      name: "tag and digest",
      edit: (s) => s.replace("tag: 1.4.0-rc.2", `tag: 1.4.0-rc.2\n      digest: sha256:${"0".repeat(64)}`),
      key: "pulumi-gitops:app.image",
      message: /not both/,
    },
    {
      name: "replicas and autoscaling",
      edit: (s) =>
        s.replace("replicas: 1", "replicas: 1\n    autoscaling: { minReplicas: 1, maxReplicas: 2, targetCpuUtilizationPercent: 80 }"),
      key: "pulumi-gitops:app.replicas",
      message: /autoscaling/,
    },
    {
      name: "neither replicas nor autoscaling",
      edit: (s) => s.replace("    replicas: 1\n", ""),
      key: "pulumi-gitops:app.replicas",
      message: /is required/,
    },
    {
      name: "request above limit",
      edit: (s) => s.replace("limits: { cpu: 250m, memory: 128Mi }", "limits: { cpu: 25m, memory: 128Mi }"),
      key: "pulumi-gitops:app.resources.requests.cpu",
      message: /must not exceed the limit/,
    },
    {
      name: "quota smaller than replicas",
      edit: (s) => s.replace("replicas: 1", "replicas: 12"),
      key: "pulumi-gitops:namespace.quota.pods",
      message: /at least the app's 12 replicas/,
    },
    {
      name: "bad quantity",
      edit: (s) => s.replace("memory: 4Gi }", "memory: lots }"),
      key: "pulumi-gitops:namespace.quota.limits.memory",
      message: /must match pattern/,
    },
    {
      name: "bad env var name",
      edit: (s) => s.replace("LOG_LEVEL: debug", "log-level: debug"),
      key: "pulumi-gitops:app.env.log-level",
      message: /not a valid name/,
    },
    {
      name: "PDB with both",
      edit: (s) => s.replace("replicas: 1", "replicas: 1\n    disruptionBudget: { minAvailable: 1, maxUnavailable: 1 }"),
      key: "pulumi-gitops:app.disruptionBudget",
      message: /exactly one/,
    },
    {
      name: "deployer without an OIDC choice",
      edit: (s) =>
        s +
        "  pulumi-gitops:aws:\n    region: eu-west-1\n    deployer: { repository: a/b, stateBucket: a-state, applyPolicyArns: [arn:aws:iam::aws:policy/PowerUserAccess] }\n",
      key: "pulumi-gitops:aws.deployer",
      message: /oidcProviderArn .* or createOidcProvider/,
    },
    {
      name: "empty apply policy list",
      edit: (s) =>
        s +
        "  pulumi-gitops:aws:\n    region: eu-west-1\n    deployer: { repository: a/b, stateBucket: a-state, applyPolicyArns: [], createOidcProvider: true }\n",
      key: "pulumi-gitops:aws.deployer.applyPolicyArns",
      message: /fewer than 1/,
    },
  ];
  for (const r of rules)
    it(`reports ${r.name}`, () => {
      const edited = r.edit(validDev);
      assert.notEqual(edited, validDev, "the edit must change the file");
      const { problems } = readStackFile(repoWith("x", edited), "x");
      has(problems, r.key, r.message);
    });

  it("reports YAML syntax errors with the file", () => {
    const { problems } = readStackFile(repoWith("bad", "config:\n  a: [1, 2\n"), "bad");
    assert.equal(problems.length >= 1, true);
    assert.equal(problems[0].file, "stacks/Pulumi.bad.yaml");
    assert.equal(problems[0].key, "(yaml)");
  });

  it("reports a missing stack file", () => {
    assert.deepEqual(readStackFile(tmp, "nope").problems, [
      { file: "stacks/Pulumi.nope.yaml", key: "(file)", message: "stack file not found" },
    ]);
  });

  it("reports a config that is not a mapping", () => {
    has(readStackFile(repoWith("list", "config: [1]\n"), "list").problems, "config", /mapping/);
  });

  it("reports every required top-level key of an empty config", () => {
    const { problems } = readStackFile(repoWith("empty", "encryptionsalt: x\n"), "empty");
    assert.deepEqual(problems.map((p) => p.key).sort(), [
      "pulumi-gitops:app",
      "pulumi-gitops:environment",
      "pulumi-gitops:kubernetes",
      "pulumi-gitops:namespace",
    ]);
  });
});

describe("StackConfigError and helpers", () => {
  it("lists one problem per line as file: key: message", () => {
    const err = new StackConfigError([
      { file: "stacks/Pulumi.a.yaml", key: "pulumi-gitops:app.replicas", message: "must be integer" },
      { file: "stacks/Pulumi.a.yaml", key: "pulumi-gitops:app", message: "is required" },
    ]);
    assert.ok(err instanceof Error);
    assert.deepEqual(err.message.split("\n").slice(1), [
      "stacks/Pulumi.a.yaml: pulumi-gitops:app.replicas: must be integer",
      "stacks/Pulumi.a.yaml: pulumi-gitops:app: is required",
    ]);
    assert.match(err.message, /2 problems/);
  });

  const pointers: [string, string][] = [
    ["/pulumi-gitops:app/replicas", "pulumi-gitops:app.replicas"],
    ["/pulumi-gitops:aws/deployer/applyPolicyArns/0", "pulumi-gitops:aws.deployer.applyPolicyArns[0]"],
    ["/a~1b", "a/b"],
    ["", ""],
  ];
  for (const [p, k] of pointers) it(`pointerToKey(${JSON.stringify(p)})`, () => assert.equal(pointerToKey(p), k));

  const quantities: [string, number][] = [
    ["250m", 0.25],
    ["2", 2],
    ["1Gi", 2 ** 30],
    ["512Mi", 512 * 2 ** 20],
    ["1k", 1000],
  ];
  for (const [q, n] of quantities) it(`parseQuantity(${q})`, () => assert.equal(parseQuantity(q), n));
  it("parseQuantity rejects garbage", () => assert.ok(Number.isNaN(parseQuantity("lots"))));

  it("engine config round-trips the YAML values", () => {
    const { values } = readStackFile(repoRoot, "prod");
    const engine = toEngineConfig(values);
    for (const v of Object.values(engine)) assert.equal(typeof v, "string");
    assert.deepEqual(fromEngineConfig(engine), values);
  });
});

describe("the program with a broken stack", () => {
  let resources: Registered[];
  beforeEach(() => {
    resources = installMocks("broken");
  });

  it("throws StackConfigError naming file and keys, and creates nothing", async () => {
    const { values } = readStackFile(repoRoot, "dev");
    const app = { ...(values["pulumi-gitops:app"] as Record<string, unknown>), replicas: -1, image: { repository: "x/y" } };
    const engine = toEngineConfig({ ...values, "pulumi-gitops:app": app, "kubernetes:context": "kind" });
    let caught: unknown;
    try {
      runProgram("broken", engine, { root: tmp, home: tmp });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof StackConfigError, String(caught));
    const lines = caught.message.split("\n").slice(1);
    assert.equal(caught.problems.length, lines.length);
    assert.ok(caught.problems.every((p) => p.file === "stacks/Pulumi.broken.yaml"));
    assert.ok(lines.includes("stacks/Pulumi.broken.yaml: pulumi-gitops:app.replicas: must be >= 0"), caught.message);
    assert.ok(lines.includes("stacks/Pulumi.broken.yaml: pulumi-gitops:app.image: set exactly one of tag and digest"), caught.message);
    assert.ok(
      lines.some((l) => l.startsWith("stacks/Pulumi.broken.yaml: kubernetes:context: only pulumi-gitops:* keys")),
      caught.message,
    );
    await settle();
    assert.deepEqual(resources, []);
  });

  it("creates resources once the same config is fixed (the check above can fail)", async () => {
    const { values } = readStackFile(repoRoot, "dev");
    runProgram("dev", toEngineConfig(values), { root: tmp, home: tmp });
    await settle();
    assert.ok(resources.length > 5);
  });
});

describe("secrets in stack files", () => {
  const secure = "secure: v1:c2VjcmV0LWNpcGhlcnRleHQ=";
  const cluster = validDev.replace(/mode: render\n(\s+)renderDir: rendered\/dev/, "mode: cluster\n$1skipAwait: true");
  const withEnv = (text: string, value: string) => text.replace(/LOG_LEVEL: debug/, `LOG_LEVEL: debug\n      API_TOKEN:\n        ${value}`);

  it("accepts a secret app.env value on a cluster stack and names it", () => {
    const { values, problems } = readStackFile(repoWith("c", withEnv(cluster, secure)), "c");
    assert.deepEqual(problems, []);
    assert.deepEqual(validateStackConfig("c", values).config?.secrets, ["pulumi-gitops:app.env.API_TOKEN"]);
  });

  it("refuses a secret on a render-mode stack, whose manifests are plain files", () => {
    const { problems } = readStackFile(repoWith("r", withEnv(validDev, secure)), "r");
    has(problems, "pulumi-gitops:app.env.API_TOKEN", /render-mode stack writes its manifests in clear text/);
    assert.equal(problems.length, 1, formatProblems(problems));
  });

  it("refuses a secret where none makes sense, once, and a malformed env value clearly", () => {
    const text = withEnv(cluster, "{ plain: 1 }").replace(/name: web\n/, `name:\n      ${secure}\n`);
    const { problems } = readStackFile(repoWith("x", text), "x");
    has(problems, "pulumi-gitops:app.name", /cannot be a secret: only pulumi-gitops:app\.env values can/);
    has(problems, "pulumi-gitops:app.env.API_TOKEN", /must be a string, or a secret/);
    assert.equal(problems.length, 2, formatProblems(problems));
  });

  it("the program passes a secret env value from a Kubernetes Secret, marked secret", async () => {
    const resources = installMocks("c");
    const { values } = readStackFile(repoWith("c", withEnv(cluster, secure)), "c");
    const engine = toEngineConfig({
      ...values,
      "pulumi-gitops:app": { ...(values["pulumi-gitops:app"] as object), env: { LOG_LEVEL: "debug", API_TOKEN: "tok-123" } },
    });
    const out = runProgram("c", engine, { root: tmp, home: tmp, secrets: ["pulumi-gitops:app.env.API_TOKEN"] });
    await settle();
    const secret = resources.find((r) => r.type === "kubernetes:core/v1:Secret")!;
    assert.equal(secret.name, "web-env");
    // The engine receives it marked as a secret: encrypted in the state, masked in every diff.
    assert.deepEqual(secret.inputs.stringData, {
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
      value: { API_TOKEN: "tok-123" },
    });
    const deployment = resources.find((r) => r.type === "kubernetes:apps/v1:Deployment")!;
    assert.deepEqual(deployment.inputs.spec.template.spec.containers[0].env, [
      { name: "LOG_LEVEL", value: "debug" },
      { name: "API_TOKEN", valueFrom: { secretKeyRef: { name: "web-env", key: "API_TOKEN" } } },
    ]);
    assert.ok(!JSON.stringify(deployment.inputs).includes("tok-123"));
    assert.ok(out.namespace);
  });
});

describe("the runner's rules, read like a stack file", () => {
  /** A repository with `yaml` as its stacks/gitops.yaml, or none. */
  function rulesIn(yaml?: string): string {
    const dir = fs.mkdtempSync(path.join(tmp, "rules-"));
    fs.mkdirSync(path.join(dir, "stacks"));
    if (yaml !== undefined) fs.writeFileSync(path.join(dir, RULES_FILE), yaml);
    return dir;
  }

  it("absent or empty: the defaults", () => {
    assert.deepEqual(readRules(rulesIn()), { rules: DEFAULT_RULES, problems: [] });
    assert.deepEqual(readRules(rulesIn("")), { rules: DEFAULT_RULES, problems: [] });
  });

  it("the file's keys over the defaults, paths flattened", () => {
    const { rules } = readRules(
      rulesIn("remote: upstream\npaths:\n  ignore: [docs/**]\n  rules:\n    - {match: [charts/**], stacks: [prod]}\n"),
    );
    assert.deepEqual(rules, {
      ...DEFAULT_RULES,
      remote: "upstream",
      ignore: ["docs/**"],
      rules: [{ match: ["charts/**"], stacks: ["prod"] }],
    });
  });

  it("every problem at once, as file: key: message lines", () => {
    const { rules, problems } = readRules(rulesIn("order: [dev, 'a b']\ncolour: blue\npaths:\n  rules:\n    - match: [x/**]\n"));
    assert.equal(rules, undefined);
    assert.deepEqual(problems.map(formatProblem), [
      "stacks/gitops.yaml: colour: is not a known setting",
      'stacks/gitops.yaml: order[1]: must match pattern "^[A-Za-z0-9_.-]{1,100}$"',
      "stacks/gitops.yaml: paths.rules[0].stacks: is required",
    ]);
  });

  it("stages: checks, soak and from, with what the schema cannot say checked too", () => {
    const good = readRules(
      rulesIn(
        "stages:\n  staging:\n    checks:\n      - {name: health, http: {url: 'http://x/${outputs.url}', passes: 2, attempts: 5}, timeout: 5s}\n      - {name: smoke, command: ./smoke.sh}\n    onFailure: rollback\n  prod: {from: staging, soak: 30m}\n",
      ),
    );
    assert.deepEqual(good.problems, []);
    assert.equal(good.rules!.stages.prod.from, "staging");
    const { rules, problems } = readRules(
      rulesIn(
        "stages:\n  dev: {from: prod}\n  staging:\n    soak: 1h\n    checks:\n      - {name: a, command: x, http: {url: u}}\n      - {name: a, http: {url: u, passes: 3, attempts: 2}}\n  prod: {from: dev, soak: soon}\n",
      ),
    );
    assert.equal(rules, undefined);
    assert.deepEqual(problems.map(formatProblem), [
      'stacks/gitops.yaml: stages.prod.soak: must match pattern "^\\s*(\\d+(\\.\\d+)?(ms|s|m|h)?)+\\s*$"',
    ]);
    const more = readRules(
      rulesIn(
        "stages:\n  dev: {from: prod}\n  staging:\n    soak: 1h\n    checks:\n      - {name: a, command: x, http: {url: u}}\n      - {name: a, http: {url: u, passes: 3, attempts: 2}}\n  prod: {from: dev}\n",
      ),
    );
    assert.deepEqual(more.problems.map(formatProblem), [
      "stacks/gitops.yaml: stages.dev.from: makes a loop: dev <- prod <- dev",
      "stacks/gitops.yaml: stages.staging.soak: needs `from`: the stack the commit soaks in",
      "stacks/gitops.yaml: stages.staging.checks[0]: needs exactly one of `http` and `command`",
      "stacks/gitops.yaml: stages.staging.checks[1].name: 'a' is the name of another check of staging",
      "stacks/gitops.yaml: stages.staging.checks[1].http.attempts: must be at least `passes`",
      "stacks/gitops.yaml: stages.prod.from: makes a loop: prod <- dev <- prod",
    ]);
  });

  it("a syntax error at its line and column, like a stack file's", () => {
    const { problems } = readRules(rulesIn("paths:\n  program: [index.ts\n  ignore: []\n"));
    assert.equal(problems.length, 1, formatProblems(problems));
    assert.equal(problems[0].key, "(yaml)");
    assert.match(formatProblem(problems[0]), /^stacks\/gitops\.yaml:\d+:\d+: \(yaml\): \S/);
  });
});
