import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import type { Server } from "node:http";
import type { CommandModule } from "yargs";
import { durationMs } from "../../config/duration";
import { Agent } from "../agent/agent";
import { startServer } from "../agent/server";
import type { GlobalOptions } from "../core/context";
import { GitopsError, usageError } from "../core/errors";
import { createLogger } from "../core/log";
import { wholeNumber } from "./options";

interface Args extends GlobalOptions {
  repo: string;
  branch: string;
  "work-dir"?: string;
  interval: string;
  "drift-interval": string;
  remediate?: boolean;
  listen: string;
  "backoff-base": string;
  "backoff-cap": string;
  "webhook-secret-file"?: string;
  "shutdown-timeout": string;
  "lock-timeout": number;
}

/** A duration flag in milliseconds ("90", "90s", "15m", "1h30m"; a bare number is seconds). */
export function parseDuration(option: string, value: string): number {
  const ms = durationMs(value);
  if (ms === undefined) throw usageError(`--${option} '${value}' is not a duration`, "write it like 90, 90s, 15m or 1h30m (a bare number is seconds)");
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
      throw new GitopsError(`cannot read the webhook secret from ${file}: ${(err as NodeJS.ErrnoException).code}`, "point --webhook-secret-file at a readable file holding the secret");
    }
    throw new GitopsError(`the webhook secret file ${file} is empty`, "put the secret shared with the git server in it");
  }
  return env.GITOPS_WEBHOOK_SECRET ? Buffer.from(env.GITOPS_WEBHOOK_SECRET) : undefined;
}

export const agentCommand: CommandModule<GlobalOptions, Args> = {
  command: "agent",
  describe: "Pull mode: follow a branch, apply each new commit, check drift on a timer, and serve health, metrics and status",
  builder: (y) =>
    y
      .option("repo", { type: "string", demandOption: true, requiresArg: true, describe: "The repository to follow: a git URL (https, ssh, git) or a path. The agent clones it into its work dir and never touches your checkouts" })
      .option("branch", { type: "string", default: "main", requiresArg: true, describe: "The branch to deploy; it must be the repository's protected branch (stacks/gitops.yaml)" })
      .option("work-dir", { type: "string", requiresArg: true, describe: "The agent's own directory: its clone, the embedded state (unless --backend), a pid file (default: $XDG_STATE_HOME/pulumi-gitops/agent/<id>)" })
      .option("interval", { type: "string", default: "60s", requiresArg: true, describe: "How often to fetch the branch" })
      .option("drift-interval", { type: "string", default: "15m", requiresArg: true, describe: "How often to check every deployed stack for drift; 0 turns it off" })
      .option("remediate", { type: "boolean", describe: "Restore drifted stacks to the commit they record (their pin, after a rollback); without it, drift is only reported" })
      .option("listen", { type: "string", default: "127.0.0.1:9464", requiresArg: true, describe: "Address of /healthz, /readyz, /metrics, /status and POST /hooks/git (0.0.0.0:9464 inside a pod)" })
      .option("backoff-base", { type: "string", default: "30s", requiresArg: true, describe: "Wait before retrying a failed commit; it doubles on every further failure" })
      .option("backoff-cap", { type: "string", default: "10m", requiresArg: true, describe: "Longest wait between retries of a failed commit (a new commit is tried at once anyway)" })
      .option("webhook-secret-file", { type: "string", requiresArg: true, describe: "File holding the push webhook's HMAC secret (default: $GITOPS_WEBHOOK_SECRET; without either, webhooks are off)" })
      .option("shutdown-timeout", { type: "string", default: "60s", requiresArg: true, describe: "On SIGTERM, how long the running update may take to finish before the engine is stopped gracefully" })
      .option("lock-timeout", { type: "string", default: "60", defaultDescription: "60", requiresArg: true, coerce: wholeNumber("lock-timeout", 0, 120), describe: "Seconds to wait, with backoff, while another runner holds a stack's lock" })
      .epilogue(
        "Each new commit on the branch is applied exactly as `gitops apply` would (order, pins, guards, recorded commit), one update at a time. " +
          "A failed commit is retried with exponential backoff from --backoff-base up to --backoff-cap; a new commit is tried at once. " +
          "Webhooks must carry X-Hub-Signature-256 (HMAC-SHA256 of the body); others get 401. " +
          "SIGTERM/SIGINT: stop taking work, finish or gracefully stop the running update, exit 0; a second signal exits at once. " +
          "A restart resumes from what the stacks record.",
      )
      .example("$0 agent --repo https://git.example.com/infra.git --webhook-secret-file /etc/gitops/webhook", "Follow main, apply new commits, report drift every 15 minutes")
      .example("$0 agent --repo ../infra --interval 10s --drift-interval 5m --remediate", "Follow a local repository and undo drift") as never,
  handler: async (a) => {
    const env = process.env;
    const log = createLogger(a.debug ? "debug" : a.quiet ? "warn" : "info");
    const source = fs.existsSync(a.repo) ? path.resolve(a.repo) : a.repo;
    const shutdownMs = parseDuration("shutdown-timeout", a["shutdown-timeout"]);
    const agent = new Agent(
      {
        source,
        branch: a.branch,
        workDir: path.resolve(a["work-dir"] ?? defaultWorkDir(env, source, a.branch)),
        intervalMs: Math.max(1000, parseDuration("interval", a.interval)),
        driftIntervalMs: parseDuration("drift-interval", a["drift-interval"]),
        remediate: a.remediate ?? false,
        backoffBaseMs: parseDuration("backoff-base", a["backoff-base"]),
        backoffCapMs: parseDuration("backoff-cap", a["backoff-cap"]),
        lockTimeout: a["lock-timeout"],
        global: { backend: a.backend, debug: a.debug, quiet: a.quiet },
        env,
      },
      log,
    );
    const secret = webhookSecret(a["webhook-secret-file"], env);
    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      let received = false;
      // Persistent listeners: execa's signal-exit would otherwise re-raise the signal and kill the
      // agent while the engine winds down.
      const onSignal = (sig: NodeJS.Signals) => {
        if (received) process.exit(128 + (sig === "SIGINT" ? 2 : 15));
        received = true;
        resolve(sig);
      };
      process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
    });
    // The work dir first: a refused second agent must not answer probes, even briefly.
    agent.claim();
    let server: Server | undefined;
    try {
      const started = await startServer(a.listen, agent.handlers(secret), (err) => log.error(`HTTP handler failed: ${err.stack}`));
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
