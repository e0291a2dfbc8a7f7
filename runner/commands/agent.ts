import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import type { Server } from "node:http";
import type { CommandModule } from "yargs";
import type { AgentOptions } from "../agent/agent";
import { AGENT_DEFAULTS, AGENT_FLAGS, AGENT_PORT } from "../../config/agentFlags";
import { durationMs } from "../../config/duration";
import { gitTimeoutMs, type GlobalOptions } from "../services/context";
import { GitopsError, refused, usageError } from "../errors";
import { createLogger } from "../log";
import { onStopSignal } from "./interrupt";
import { lockTimeoutOption } from "./options";

const F = AGENT_FLAGS;
const D = AGENT_DEFAULTS;

/** The parsed flags, by the names AGENT_FLAGS gives them. */
interface Args extends GlobalOptions {
  [F.repo]: string;
  [F.branch]: string;
  [F.workDir]?: string;
  [F.interval]: string;
  [F.driftInterval]: string;
  [F.remediate]?: boolean;
  [F.listen]: string;
  [F.backoffBase]: string;
  [F.backoffCap]: string;
  [F.webhookSecretFile]?: string;
  [F.shutdownTimeout]: string;
  [F.lockTimeout]: number;
  [F.persistentState]?: boolean;
}

/** A duration flag in milliseconds ("90", "90s", "15m", "1h30m"; a bare number is seconds). */
export function parseDuration(option: string, value: string): number {
  const ms = durationMs(value);
  if (ms === undefined)
    throw usageError(`--${option} '${value}' is not a duration`, "write it like 90, 90s, 15m or 1h30m (a bare number is seconds)");
  return ms;
}

/** Where the agent keeps its clone when not told: one directory per repository and branch. */
function defaultWorkDir(env: NodeJS.ProcessEnv, source: string, branch: string): string {
  const state = env.XDG_STATE_HOME ?? path.join(os.homedir(), ".local", "state");
  const id = createHash("sha256").update(`${source}#${branch}`).digest("hex").slice(0, 12);
  return path.join(state, "pulumi-gitops", "agent", id);
}

function webhookSecret(file: string | undefined, env: NodeJS.ProcessEnv): Buffer | undefined {
  if (file) {
    try {
      const text = fs.readFileSync(file, "utf8").trim();
      if (text) return Buffer.from(text);
    } catch (err) {
      throw new GitopsError(
        `cannot read the webhook secret from ${file}: ${(err as NodeJS.ErrnoException).code}`,
        `point --${F.webhookSecretFile} at a readable file holding the secret`,
      );
    }
    throw new GitopsError(`the webhook secret file ${file} is empty`, "put the secret shared with the git server in it");
  }
  return env.GITOPS_WEBHOOK_SECRET ? Buffer.from(env.GITOPS_WEBHOOK_SECRET) : undefined;
}

/** What the agent is told by its flags and environment. */
export function agentOptions(a: Args, env: NodeJS.ProcessEnv): AgentOptions {
  const source = fs.existsSync(a[F.repo]) ? path.resolve(a[F.repo]) : a[F.repo];
  return {
    source,
    branch: a[F.branch],
    workDir: path.resolve(a[F.workDir] ?? defaultWorkDir(env, source, a[F.branch])),
    intervalMs: Math.max(1000, parseDuration(F.interval, a[F.interval])),
    driftIntervalMs: parseDuration(F.driftInterval, a[F.driftInterval]),
    remediate: a[F.remediate] ?? false,
    backoffBaseMs: parseDuration(F.backoffBase, a[F.backoffBase]),
    backoffCapMs: parseDuration(F.backoffCap, a[F.backoffCap]),
    lockTimeout: a[F.lockTimeout],
    gitTimeoutMs: gitTimeoutMs(env),
    global: { backend: a.backend, debug: a.debug, quiet: a.quiet },
    env,
  };
}

/**
 * Refuses a file backend (the embedded one included) inside a Kubernetes pod unless told that it is
 * on a persistent volume: a pod's own storage goes with the pod, and with it every stack's state.
 * A pod is known by KUBERNETES_SERVICE_HOST, which the kubelet sets in every container.
 */
function requirePersistentState(a: Args, env: NodeJS.ProcessEnv): void {
  const backend = a.backend ?? env.PULUMI_BACKEND_URL;
  if (env.KUBERNETES_SERVICE_HOST === undefined || a[F.persistentState] || (backend !== undefined && !backend.startsWith("file:"))) return;
  throw refused(
    `inside a Kubernetes pod, the agent's state would live in ${backend ?? "its work dir"}, which may be the pod's own storage, lost with the pod: every stack would then be deployed again as new`,
    `keep the state in a shared backend (--backend or PULUMI_BACKEND_URL, e.g. s3://bucket), or put --${F.workDir} on a persistent volume and pass --${F.persistentState}`,
  );
}

export const agentCommand: CommandModule<GlobalOptions, Args> = {
  command: "agent",
  describe: "Pull mode: follow a branch, apply each new commit, check drift on a timer, and serve health, metrics and status",
  builder: (y) =>
    y
      .option(F.repo, {
        type: "string",
        demandOption: true,
        requiresArg: true,
        describe:
          "The repository to follow: a git URL (https, ssh, git) or a path. The agent clones it into its work dir and never touches your checkouts",
      })
      .option(F.branch, {
        type: "string",
        default: D.branch,
        requiresArg: true,
        describe: "The branch to deploy; it must be the repository's protected branch (stacks/gitops.yaml)",
      })
      .option(F.workDir, {
        type: "string",
        requiresArg: true,
        describe:
          "The agent's own directory: its clone, the embedded state and backups (unless --backend), a pid file (default: $XDG_STATE_HOME/pulumi-gitops/agent/<id>)",
      })
      .option(F.interval, { type: "string", default: D.interval, requiresArg: true, describe: "How often to fetch the branch" })
      .option(F.driftInterval, {
        type: "string",
        default: D.driftInterval,
        requiresArg: true,
        describe: "How often to check every deployed stack for drift; 0 turns it off",
      })
      .option(F.remediate, {
        type: "boolean",
        describe: "Restore drifted stacks to the commit they record (their pin, after a rollback); without it, drift is only reported",
      })
      .option(F.listen, {
        type: "string",
        default: D.listen,
        requiresArg: true,
        describe: `Address of the dashboard (/), /healthz, /readyz, /metrics, /status and POST /hooks/git (0.0.0.0:${AGENT_PORT} inside a pod)`,
      })
      .option(F.backoffBase, {
        type: "string",
        default: D.backoffBase,
        requiresArg: true,
        describe: "Wait before retrying a failed commit or fetch; it doubles on every further failure",
      })
      .option(F.backoffCap, {
        type: "string",
        default: D.backoffCap,
        requiresArg: true,
        describe: "Longest wait between retries (a new commit is tried at once anyway)",
      })
      .option(F.webhookSecretFile, {
        type: "string",
        requiresArg: true,
        describe: "File holding the push webhook's HMAC secret (default: $GITOPS_WEBHOOK_SECRET; without either, webhooks are off)",
      })
      .option(F.shutdownTimeout, {
        type: "string",
        default: D.shutdownTimeout,
        requiresArg: true,
        describe: "On SIGTERM, how long the running update may take to finish before the engine is stopped gracefully",
      })
      .option(F.lockTimeout, lockTimeoutOption(D.lockTimeout))
      .option(F.persistentState, {
        type: "boolean",
        describe:
          "Inside a Kubernetes pod, the file backend's state (the embedded one is in the work dir) is on a volume that outlives the pod; without it, the agent refuses such a backend there",
      })
      .epilogue(
        "Each new commit on the branch is applied exactly as `gitops apply` would (order, pins, guards, recorded commit), one update at a time. " +
          `A failed commit is retried with exponential backoff from --${F.backoffBase} up to --${F.backoffCap}; a new commit is tried at once. ` +
          "Webhooks must carry X-Hub-Signature-256 or X-Gitea-Signature (HMAC-SHA256 of the body) or X-Gitlab-Token (the secret); others get 401. Only a push to the branch syncs. " +
          "SIGTERM/SIGINT: start no more work, finish or gracefully stop the running update, exit 0; a second signal exits at once. " +
          "A restart resumes from what the stacks record.",
      )
      .example(
        "$0 agent --repo https://git.example.com/infra.git --webhook-secret-file /etc/gitops/webhook",
        "Follow main, apply new commits, report drift every 15 minutes",
      )
      .example(
        "$0 agent --repo ../infra --interval 10s --drift-interval 5m --remediate",
        "Follow a local repository and undo drift",
      ) as never,
  handler: async (a) => {
    const [{ Agent }, { startServer }] = await Promise.all([import("../agent/agent"), import("../agent/server")]);
    const env = process.env;
    const options = agentOptions(a, env);
    requirePersistentState(a, env);
    const log = createLogger(a.debug ? "debug" : a.quiet ? "warn" : "info");
    const shutdownMs = parseDuration(F.shutdownTimeout, a[F.shutdownTimeout]);
    const agent = new Agent(options, log);
    const secret = webhookSecret(a[F.webhookSecretFile], env);
    const stopped = new Promise<NodeJS.Signals>((resolve) => onStopSignal(resolve));
    // The work dir first: a refused second agent must not answer probes, even briefly.
    agent.claim();
    let server: Server | undefined;
    try {
      const started = await startServer(a[F.listen], agent.handlers(secret), (err) => log.error(`HTTP handler failed: ${err.stack}`));
      server = started.server;
      log.info(`serving /healthz /readyz /metrics /status and POST /hooks/git on http://${started.address}`);
      await agent.start();
    } catch (err) {
      server?.close();
      agent.releaseWorkDir();
      throw err;
    }
    const sig = await stopped;
    log.info(`${sig}: taking no more work; send it again to exit at once`);
    await agent.stop(shutdownMs);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    log.info("stopped");
    process.exit(0);
  },
};
