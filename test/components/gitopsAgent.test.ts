import { describe, it, beforeEach } from "node:test";
import * as assert from "node:assert/strict";
import * as k8s from "@pulumi/kubernetes";
import { AGENT_DEFAULTS } from "../../config/agentFlags";
import {
  AGENT_PORT,
  AGENT_WORK_DIR,
  agentArgs,
  durationSeconds,
  GitOpsAgent,
  GitOpsAgentArgs,
  serviceAccountSubject,
  terminationGraceSeconds,
} from "../../components/gitopsAgent";
import { agentOptions, parseDuration } from "../../runner/commands/agent";
import { buildParser } from "../../runner/cli";
import { byName, installMocks, ofType, policyViolations, Registered, settle, urnOf, valueOf } from "./harness";

const PASSPHRASE = "correct horse battery staple";
const base: GitOpsAgentArgs = {
  namespaceName: "gitops",
  image: { repository: "ghcr.io/example/pulumi-gitops", tag: "0.1.0" },
  repoUrl: "https://github.com/example/infra.git",
  backendUrl: "s3://state-bucket?region=eu-west-1",
  passphraseSecret: { name: "pulumi-passphrase", key: "passphrase" },
};

let resources: Registered[];
beforeEach(() => {
  resources = installMocks();
});

/** The value after `flag` in an argument list (undefined when the flag is absent). */
function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}

async function agent(args: Partial<GitOpsAgentArgs> = {}, name = "agent") {
  const component = new GitOpsAgent(name, { ...base, ...args });
  await settle();
  const dep = byName(resources, `${name}-deployment`).inputs;
  const pod = dep.spec.template.spec;
  const container = pod.containers[0];
  const env = new Map<string, any>(container.env.map((e: any) => [e.name, e]));
  return { component, dep, pod, container, env };
}

describe("agentArgs", () => {
  it("defaults: branch main, 60s / 15m, listens on every interface in the pod, works in the emptyDir, detect-only", () => {
    const args = agentArgs({ repoUrl: "https://git.example.com/infra.git" });
    assert.deepEqual(args, [
      "--repo",
      "https://git.example.com/infra.git",
      "--branch",
      "main",
      "--work-dir",
      "/var/lib/gitops",
      "--interval",
      "60s",
      "--drift-interval",
      "15m",
      "--listen",
      "0.0.0.0:9464",
      "--shutdown-timeout",
      AGENT_DEFAULTS.shutdownTimeout,
    ]);
  });

  it("carries every option given, flags only when asked", () => {
    const args = agentArgs({
      repoUrl: "/srv/git/infra",
      branch: "release",
      interval: "30s",
      driftInterval: "1h",
      remediate: true,
      backoffCap: "5m",
      shutdownTimeout: "2m",
      webhook: true,
      extraArgs: ["--debug"],
    });
    assert.equal(flag(args, "--repo"), "/srv/git/infra");
    assert.equal(flag(args, "--branch"), "release");
    assert.equal(flag(args, "--interval"), "30s");
    assert.equal(flag(args, "--drift-interval"), "1h");
    assert.equal(flag(args, "--backoff-cap"), "5m");
    assert.equal(flag(args, "--shutdown-timeout"), "2m");
    assert.equal(flag(args, "--webhook-secret-file"), "/etc/gitops/webhook/webhook-secret");
    assert.ok(args.includes("--remediate"));
    assert.equal(args.at(-1), "--debug");
    const plain = agentArgs({ repoUrl: "/srv/git/infra", remediate: false });
    for (const f of ["--remediate", "--backoff-cap", "--webhook-secret-file"]) assert.ok(!plain.includes(f), f);
  });
});

/** The agent's options as the real CLI parses `args` (strict: an unknown flag throws), without running it. */
function parsedByCli(args: readonly string[]) {
  class Parsed extends Error {}
  let parsed: any;
  assert.throws(
    () =>
      buildParser(["agent", ...args])
        .middleware((a) => {
          parsed = a;
          throw new Parsed();
        })
        .parseSync(),
    Parsed,
  );
  return { argv: parsed, options: agentOptions(parsed, {}) };
}

describe("the component's arguments, read by the agent's own parser", () => {
  it("default to exactly the agent's defaults, in the work volume, on every interface", async () => {
    const { component } = await agent();
    const { argv, options } = parsedByCli(component.args);
    const { argv: bare } = parsedByCli(["--repo", base.repoUrl]);
    assert.equal(options.source, base.repoUrl);
    assert.equal(options.workDir, AGENT_WORK_DIR);
    assert.equal(argv.listen, `0.0.0.0:${AGENT_PORT}`);
    for (const k of ["branch", "interval", "drift-interval", "shutdown-timeout", "backoff-cap", "backoff-base", "lock-timeout"])
      assert.equal(argv[k], bare[k], k);
    assert.equal(options.remediate, false);
    assert.equal(argv["persistent-state"], undefined);
    assert.equal(argv["webhook-secret-file"], undefined);
    assert.equal(terminationGraceSeconds(), durationSeconds("shutdown-timeout", bare["shutdown-timeout"]) + 30);
  });

  it("carry every option given, as the agent reads it", async () => {
    const { component } = await agent({
      branch: "release",
      interval: "30s",
      driftInterval: "1h",
      remediate: true,
      backoffCap: "5m",
      shutdownTimeout: "2m",
      webhookSecret: { name: "hook", key: "k" },
      backendUrl: undefined,
      workVolumeClaim: "gitops-work",
      extraArgs: ["--debug", "--lock-timeout", "5"],
    });
    const { argv, options } = parsedByCli(component.args);
    assert.equal(options.branch, "release");
    assert.equal(options.intervalMs, 30_000);
    assert.equal(options.driftIntervalMs, 3_600_000);
    assert.equal(options.remediate, true);
    assert.equal(options.backoffCapMs, 300_000);
    assert.equal(options.lockTimeout, 5);
    assert.equal(options.global.debug, true);
    assert.equal(argv["shutdown-timeout"], "2m");
    assert.equal(argv["webhook-secret-file"], "/etc/gitops/webhook/webhook-secret");
    assert.equal(argv["persistent-state"], true);
  });
});

/** What `gitops <command> --help` prints, from the real parser. */
function helpOf(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    buildParser([command, "--help"])
      .exitProcess(false)
      .parse([command, "--help"], {}, (err, _argv, output) => (err ? reject(err) : resolve(output)));
  });
}

/** An option's entry in help output: its line and the continuation lines under it. */
function helpEntry(help: string, option: string): string {
  const lines = help.split("\n");
  const start = lines.findIndex((l) => l.trimStart().startsWith(`${option} `));
  assert.ok(start >= 0, `${option} in:\n${help}`);
  const end = lines.findIndex((l, i) => i > start && !/^\s{6,}\S/.test(l));
  return lines.slice(start, end).join(" ").replace(/\s+/g, " ");
}

describe("--lock-timeout in --help", () => {
  it("is one option for the agent and the commands: whole seconds, not a string, with each one's default", async () => {
    const agent = helpEntry(await helpOf("agent"), "--lock-timeout");
    const apply = helpEntry(await helpOf("apply"), "--lock-timeout");
    assert.doesNotMatch(agent, /\[string\]/);
    assert.match(agent, new RegExp(`\\[default: ${AGENT_DEFAULTS.lockTimeout}\\]$`));
    assert.match(apply, /\[default: 0\]$/);
    assert.equal(agent.replace(/\[default: \d+\]$/, ""), apply.replace(/\[default: \d+\]$/, ""));
  });
});

describe("durations", () => {
  const table: { d: string; seconds?: number; error?: RegExp; allowZero?: boolean }[] = [
    { d: "60s", seconds: 60 },
    { d: "90", seconds: 90 },
    { d: "15m", seconds: 900 },
    { d: "1h30m", seconds: 5400 },
    { d: "1.5m", seconds: 90 },
    { d: "1500ms", seconds: 1.5 },
    { d: "0s", seconds: 0, allowZero: true },
    { d: "0s", error: /longer than zero/ },
    { d: "often", error: /must be a duration/ },
    { d: "1 minute", error: /must be a duration/ },
    { d: "-5s", error: /must be a duration/ },
    { d: "", error: /must be a duration/ },
  ];
  for (const t of table)
    it(`${JSON.stringify(t.d)}${t.allowZero ? " (zero allowed)" : ""}`, () => {
      if (t.error) assert.throws(() => durationSeconds("interval", t.d, { allowZero: t.allowZero }), t.error);
      else assert.equal(durationSeconds("interval", t.d, { allowZero: t.allowZero }), t.seconds);
    });

  it("reads durations exactly as the agent does", () => {
    for (const t of table) {
      let agent: number | Error;
      try {
        agent = parseDuration("interval", t.d) / 1000;
      } catch (e) {
        agent = e as Error;
      }
      if (t.error && !/longer than zero/.test(String(t.error))) assert.ok(agent instanceof Error, t.d);
      else assert.equal(agent, t.seconds ?? 0, t.d);
    }
  });

  it("the grace period outlasts the shutdown timeout", () => {
    assert.equal(terminationGraceSeconds(), 90);
    assert.equal(terminationGraceSeconds("2m"), 150);
    assert.equal(terminationGraceSeconds("1500ms"), 32);
    assert.equal(terminationGraceSeconds("0s"), 30);
  });

  it("serviceAccountSubject is the token's sub claim", () => {
    assert.equal(serviceAccountSubject("gitops", "agent"), "system:serviceaccount:gitops:agent");
  });
});

describe("GitOpsAgent", () => {
  it("creates namespace, quota, service account, deployment and service as parented children", async () => {
    const { component } = await agent();
    assert.deepEqual(resources.map((r) => r.name).sort(), [
      "agent",
      "agent-deployment",
      "agent-namespace",
      "agent-network-policy",
      "agent-quota",
      "agent-service",
      "agent-service-account",
    ]);
    const ns = byName(resources, "agent-namespace").inputs;
    assert.equal(ns.metadata.name, "gitops");
    assert.equal(ns.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
    for (const r of resources.filter((x) => x.type.startsWith("kubernetes:") && x.type !== "kubernetes:core/v1:Namespace"))
      assert.equal(r.inputs.metadata.namespace, "gitops", r.name);
    // The API server itself refuses a second agent pod.
    assert.deepEqual(byName(resources, "agent-quota").inputs.spec.hard, { pods: "1" });
    for (const r of [
      component.namespace,
      component.quota,
      component.serviceAccount,
      component.deployment,
      component.service,
      component.networkPolicy,
    ])
      assert.match(await urnOf(r), /::pulumi-gitops:kubernetes:GitOpsAgent\$kubernetes:[^:]+:[A-Za-z]+::agent-[a-z-]+$/);
    assert.equal(await valueOf(component.namespaceName), "gitops");
    assert.equal(await valueOf(component.serviceAccountName), "agent");
    assert.equal(await valueOf(component.url), "http://agent.gitops.svc.cluster.local:9464");
    // The component never creates Secrets: they are made out of band.
    assert.deepEqual(ofType(resources, "kubernetes:core/v1:Secret"), []);
  });

  it("runs the agent from /app with the flags for a pod", async () => {
    const { container, component } = await agent({ branch: "prod", interval: "30s", driftInterval: "10m", remediate: true });
    assert.equal(container.image, "ghcr.io/example/pulumi-gitops:0.1.0");
    // Node is the container's process, so SIGTERM reaches the agent (npx would exit at once on it).
    assert.deepEqual(container.command, ["node", "bin/gitops", "agent"]);
    assert.equal(container.workingDir, "/app");
    const args: string[] = container.args;
    assert.deepEqual(args, component.args);
    assert.equal(flag(args, "--repo"), "https://github.com/example/infra.git");
    assert.equal(flag(args, "--branch"), "prod");
    assert.equal(flag(args, "--interval"), "30s");
    assert.equal(flag(args, "--drift-interval"), "10m");
    assert.equal(flag(args, "--listen"), `0.0.0.0:${AGENT_PORT}`);
    assert.equal(flag(args, "--work-dir"), "/var/lib/gitops");
    assert.ok(args.includes("--remediate"));
    // The work dir, HOME and /tmp are writable emptyDirs under a read-only root, each with a size limit.
    const mounts = new Map<string, string>(container.volumeMounts.map((m: any) => [m.mountPath, m.name]));
    const volumes = new Map<string, any>(
      byName(resources, "agent-deployment").inputs.spec.template.spec.volumes.map((v: any) => [v.name, v]),
    );
    for (const dir of ["/var/lib/gitops", "/home/gitops", "/tmp"])
      assert.match(volumes.get(mounts.get(dir)!)?.emptyDir?.sizeLimit ?? "", /^\d+Gi$/, dir);
  });

  it("sizes the work dir's emptyDir as told", async () => {
    const { pod } = await agent({ workSizeLimit: "20Gi" });
    assert.deepEqual(
      pod.volumes.find((v: any) => v.name === "work"),
      { name: "work", emptyDir: { sizeLimit: "20Gi" } },
    );
    assert.throws(() => new GitOpsAgent("bad-size", { ...base, workSizeLimit: "lots" }), /workSizeLimit must be a quantity/);
  });

  it("takes another command, working dir and extra flags", async () => {
    const { container } = await agent({ command: ["gitops", "agent"], workingDir: "/opt/gitops", extraArgs: ["--debug"] });
    assert.deepEqual(container.command, ["gitops", "agent"]);
    assert.equal(container.workingDir, "/opt/gitops");
    assert.equal(container.args.at(-1), "--debug");
  });

  it("reads the passphrase from the Secret and never holds it as a value", async () => {
    const { env } = await agent({ env: { AWS_REGION: "eu-west-1" } });
    assert.deepEqual(env.get("PULUMI_CONFIG_PASSPHRASE"), {
      name: "PULUMI_CONFIG_PASSPHRASE",
      valueFrom: { secretKeyRef: { name: "pulumi-passphrase", key: "passphrase" } },
    });
    assert.equal(env.get("PULUMI_BACKEND_URL").value, "s3://state-bucket?region=eu-west-1");
    assert.equal(env.get("AWS_REGION").value, "eu-west-1");
    // Every variable is either a literal or a Secret reference, and no literal names a passphrase.
    for (const [name, e] of env) assert.ok((e.value === undefined) !== (e.valueFrom === undefined), name);
    assert.ok(![...env.values()].some((e) => e.name.includes("PASSPHRASE") && e.value !== undefined));
  });

  it("refuses a passphrase given as a literal variable", () => {
    for (const name of ["PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"])
      assert.throws(() => new GitOpsAgent("x", { ...base, env: { [name]: PASSPHRASE } }), new RegExp(`${name} is set by the component`));
  });

  it("refuses to keep state in the pod's ephemeral storage", async () => {
    for (const args of [
      { backendUrl: undefined },
      { backendUrl: "file:///var/lib/gitops/state" },
      { backendUrl: undefined, env: { PULUMI_BACKEND_URL: "file:///state" } },
    ])
      assert.throws(
        () => new GitOpsAgent("ephemeral", { ...base, ...args }),
        /ephemeral storage.*set backendUrl to a shared backend.*or workVolumeClaim/,
      );
    await settle();
    assert.deepEqual(resources, [], "nothing registered");
    const viaEnv = await agent({ backendUrl: undefined, env: { PULUMI_BACKEND_URL: "s3://b" } }, "via-env");
    assert.ok(!viaEnv.container.args.includes("--persistent-state"));
  });

  it("keeps a file backend's state on the work volume's claim, and tells the agent it persists", async () => {
    const { pod, container } = await agent({ backendUrl: undefined, workVolumeClaim: "gitops-work" }, "claimed");
    const mount = container.volumeMounts.find((m: any) => m.mountPath === AGENT_WORK_DIR);
    assert.deepEqual(
      pod.volumes.find((v: any) => v.name === mount.name),
      { name: mount.name, persistentVolumeClaim: { claimName: "gitops-work" } },
    );
    assert.ok(container.args.includes("--persistent-state"));
  });

  it("admits traffic to the agent's port only from the scraper and, with webhooks, the ingress", async () => {
    const policy = async (args: Partial<GitOpsAgentArgs>, name: string) => {
      const { dep } = await agent(args, name);
      const np = byName(resources, `${name}-network-policy`).inputs;
      assert.deepEqual(np.spec.podSelector.matchLabels, dep.spec.selector.matchLabels, "selects the agent's pod");
      assert.deepEqual(np.spec.policyTypes, ["Ingress"]);
      for (const rule of np.spec.ingress) assert.deepEqual(rule.ports, [{ port: AGENT_PORT, protocol: "TCP" }]);
      return np.spec.ingress.map((r: any) => r.from);
    };
    const ns = (name: string) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } } });
    assert.deepEqual(await policy({}, "plain"), [[ns("monitoring")]], "no webhook: the scraper only");
    assert.deepEqual(await policy({ webhookSecret: { name: "hook", key: "k" } }, "hooked"), [[ns("monitoring")], [ns("ingress-nginx")]]);
    const prometheus = {
      namespaceSelector: { matchLabels: { team: "obs" } },
      podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
    };
    const traefik = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "traefik" } } };
    assert.deepEqual(
      await policy({ metricsFrom: [prometheus], webhookFrom: [traefik], webhookSecret: { name: "hook", key: "k" } }, "chosen"),
      [[prometheus], [traefik]],
    );
    assert.deepEqual(await policy({ metricsFrom: [] }, "closed"), [], "no rule: nothing admitted");
    assert.throws(() => new GitOpsAgent("no-hook", { ...base, webhookFrom: [traefik] }), /webhooks, which are off without webhookSecret/);
  });

  it("mounts git credentials and points git at them only when given", async () => {
    const without = await agent({}, "plain");
    for (const name of ["GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"]) assert.equal(without.env.get(name), undefined, name);
    assert.ok(!without.pod.volumes.some((v: any) => v.secret));
    assert.ok(!without.container.volumeMounts.some((m: any) => m.mountPath.startsWith("/etc/gitops")));

    const withCreds = await agent({ gitCredentialsSecret: "git-credentials" }, "creds");
    assert.equal(withCreds.env.get("GIT_CONFIG_COUNT").value, "1");
    assert.equal(withCreds.env.get("GIT_CONFIG_KEY_0").value, "credential.helper");
    assert.equal(withCreds.env.get("GIT_CONFIG_VALUE_0").value, "store --file=/etc/gitops/git/.git-credentials");
    const volume = withCreds.pod.volumes.find((v: any) => v.secret?.secretName === "git-credentials");
    assert.deepEqual(volume.secret.items, [{ key: ".git-credentials", path: ".git-credentials" }]);
    const mount = withCreds.container.volumeMounts.find((m: any) => m.name === volume.name);
    assert.deepEqual(mount, { name: volume.name, mountPath: "/etc/gitops/git", readOnly: true });
  });

  it("passes --webhook-secret-file only with a webhook secret, which it mounts there", async () => {
    const without = await agent({}, "plain");
    assert.ok(!without.container.args.includes("--webhook-secret-file"));

    const hooked = await agent({ webhookSecret: { name: "gitops-webhook", key: "hmac" } }, "hooked");
    const file = flag(hooked.container.args, "--webhook-secret-file")!;
    const volume = hooked.pod.volumes.find((v: any) => v.secret?.secretName === "gitops-webhook");
    assert.deepEqual(volume.secret.items, [{ key: "hmac", path: "webhook-secret" }]);
    const mount = hooked.container.volumeMounts.find((m: any) => m.name === volume.name);
    assert.equal(mount.readOnly, true);
    assert.equal(`${mount.mountPath}/${volume.secret.items[0].path}`, file);
    // The key never becomes an environment variable.
    assert.ok(!hooked.container.env.some((e: any) => e.valueFrom?.secretKeyRef?.name === "gitops-webhook"));
  });

  it("runs exactly one agent: one replica, Recreate, and a grace period beyond the shutdown timeout", async () => {
    const { dep, pod, container } = await agent({ shutdownTimeout: "2m" });
    assert.equal(dep.spec.replicas, 1);
    assert.deepEqual(dep.spec.strategy, { type: "Recreate" });
    assert.equal(flag(container.args, "--shutdown-timeout"), "2m");
    assert.ok(pod.terminationGracePeriodSeconds > 120, String(pod.terminationGracePeriodSeconds));
    const defaults = await agent({}, "defaults");
    assert.equal(flag(defaults.container.args, "--shutdown-timeout"), "60s");
    assert.ok(defaults.pod.terminationGracePeriodSeconds > 60);
  });

  it("probes /healthz for liveness and /readyz for readiness on the metrics port", async () => {
    const { container } = await agent();
    assert.deepEqual(container.ports, [{ name: "metrics", containerPort: 9464, protocol: "TCP" }]);
    assert.deepEqual(container.livenessProbe.httpGet, { path: "/healthz", port: "metrics" });
    assert.deepEqual(container.readinessProbe.httpGet, { path: "/readyz", port: "metrics" });
    assert.deepEqual(container.startupProbe.httpGet, { path: "/healthz", port: "metrics" });
  });

  it("meets Pod Security restricted and the repository's policy checks", async () => {
    const { pod, container } = await agent({ gitCredentialsSecret: "git-credentials", webhookSecret: { name: "hook", key: "k" } });
    assert.deepEqual(container.securityContext, {
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.deepEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" });
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.serviceAccountName, "agent");
    // Restricted allows only these volume types.
    for (const v of pod.volumes)
      assert.ok(
        ["emptyDir", "secret", "persistentVolumeClaim"].some((t) => t in v),
        v.name,
      );
    assert.ok(container.resources.limits.cpu && container.resources.limits.memory);
    assert.deepEqual(policyViolations(resources), []);
  });

  it("exposes the metrics port through a ClusterIP Service that Prometheus scrapes", async () => {
    await agent();
    const svc = byName(resources, "agent-service").inputs;
    const dep = byName(resources, "agent-deployment").inputs;
    assert.equal(svc.spec.type, "ClusterIP");
    assert.deepEqual(svc.spec.ports, [{ name: "metrics", port: 9464, targetPort: "metrics", protocol: "TCP" }]);
    assert.deepEqual(svc.spec.selector, dep.spec.selector.matchLabels);
    assert.deepEqual(dep.spec.selector.matchLabels, { "app.kubernetes.io/name": "agent", "app.kubernetes.io/instance": "agent" });
    assert.equal(svc.metadata.annotations["prometheus.io/scrape"], "true");
    assert.equal(svc.metadata.annotations["prometheus.io/port"], "9464");
    assert.equal(svc.metadata.annotations["prometheus.io/path"], "/metrics");
  });

  it("annotates the ServiceAccount for IRSA and sets resources when given", async () => {
    const roleArn = "arn:aws:iam::123456789012:role/gitops-agent";
    const { container } = await agent({
      serviceAccountAnnotations: { "eks.amazonaws.com/role-arn": roleArn },
      resources: { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "4", memory: "4Gi" } },
    });
    assert.equal(byName(resources, "agent-service-account").inputs.metadata.annotations["eks.amazonaws.com/role-arn"], roleArn);
    assert.deepEqual(container.resources, { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "4", memory: "4Gi" } });
  });

  it("passes skipAwait and forceOwnership through to every resource, and neither by default", async () => {
    await agent({ skipAwait: true, forceOwnership: true, serviceAccountAnnotations: { a: "b" } }, "steered");
    await agent({}, "plain");
    const of = (prefix: string) => resources.filter((r) => r.type.startsWith("kubernetes:") && r.name.startsWith(prefix + "-"));
    assert.equal(of("steered").length, 6);
    for (const r of of("steered")) {
      assert.equal(r.inputs.metadata.annotations["pulumi.com/skipAwait"], "true", r.name);
      assert.equal(r.inputs.metadata.annotations["pulumi.com/patchForce"], "true", r.name);
    }
    for (const r of of("plain")) {
      assert.equal(r.inputs.metadata.annotations?.["pulumi.com/skipAwait"], undefined, r.name);
      assert.equal(r.inputs.metadata.annotations?.["pulumi.com/patchForce"], undefined, r.name);
    }
  });

  it("passes the provider from its options to every child", async () => {
    const provider = new k8s.Provider("cluster", { renderYamlToDirectory: "/tmp/unused" });
    new GitOpsAgent("agent", base, { provider });
    await settle();
    const children = resources.filter((r) => r.type.startsWith("kubernetes:"));
    assert.equal(children.length, 6);
    for (const r of children) assert.match(r.provider ?? "", /pulumi:providers:kubernetes::cluster::/, r.name);
  });

  const bad: { name: string; args: Partial<GitOpsAgentArgs>; error: RegExp }[] = [
    {
      name: "a token in the repo URL",
      args: { repoUrl: "https://user:ghp_secret@github.com/example/infra.git" },
      error: /must not carry credentials/,
    },
    {
      name: "a token as the URL's user",
      args: { repoUrl: "https://ghp_secret@github.com/example/infra.git" },
      error: /must not carry credentials/,
    },
    { name: "an empty repo URL", args: { repoUrl: "" }, error: /repoUrl must be/ },
    { name: "a bad interval", args: { interval: "often" }, error: /interval must be a duration/ },
    { name: "a zero interval", args: { interval: "0s" }, error: /longer than zero/ },
    { name: "a bad shutdown timeout", args: { shutdownTimeout: "1 minute" }, error: /shutdownTimeout/ },
    { name: "a wildcard branch", args: { branch: "release/*" }, error: /plain branch name/ },
    { name: "a bad namespace name", args: { namespaceName: "GitOps" }, error: /not a DNS label/ },
    { name: "root", args: { runAsUser: 0 }, error: /not root/ },
    {
      name: "both tag and digest",
      args: { image: { repository: "r/a", tag: "1", digest: "sha256:" + "ab".repeat(32) } },
      error: /not both/,
    },
    {
      name: "PULUMI_BACKEND_URL in env beside backendUrl",
      args: { env: { PULUMI_BACKEND_URL: "s3://other" } },
      error: /PULUMI_BACKEND_URL is set by the component/,
    },
    {
      name: "GIT_CONFIG_COUNT in env beside gitCredentialsSecret",
      args: { gitCredentialsSecret: "g", env: { GIT_CONFIG_COUNT: "2" } },
      error: /GIT_CONFIG_COUNT/,
    },
  ];
  for (const b of bad)
    it(`rejects ${b.name} before registering anything`, async () => {
      assert.throws(() => new GitOpsAgent("bad", { ...base, ...b.args }), b.error);
      await settle();
      assert.deepEqual(resources, []);
    });

  it("accepts ssh URLs with a user name, scp-style URLs, paths and a drift interval of 0s (off)", async () => {
    for (const [i, repoUrl] of ["ssh://git@github.com/example/infra.git", "git@github.com:example/infra.git", "/srv/git/infra"].entries())
      new GitOpsAgent(`ok${i}`, { ...base, namespaceName: `ok${i}`, repoUrl, driftInterval: "0s" });
    await settle();
    assert.equal(ofType(resources, "kubernetes:apps/v1:Deployment").length, 3);
  });
});
