/**
 * The flags of `gitops agent` and their defaults, declared once: the CLI builds its options from
 * them and the GitOpsAgent component writes its container's arguments with them.
 */

/** Port of the agent's HTTP endpoints (/healthz, /readyz, /metrics, /status, /hooks/git). */
export const AGENT_PORT = 9464;

export const AGENT_FLAGS = {
  repo: "repo",
  branch: "branch",
  workDir: "work-dir",
  interval: "interval",
  driftInterval: "drift-interval",
  remediate: "remediate",
  listen: "listen",
  backoffBase: "backoff-base",
  backoffCap: "backoff-cap",
  webhookSecretFile: "webhook-secret-file",
  shutdownTimeout: "shutdown-timeout",
  lockTimeout: "lock-timeout",
  persistentState: "persistent-state",
} as const;

export const AGENT_DEFAULTS = {
  branch: "main",
  interval: "60s",
  driftInterval: "15m",
  listen: `127.0.0.1:${AGENT_PORT}`,
  backoffBase: "30s",
  backoffCap: "10m",
  shutdownTimeout: "60s",
  /** Seconds. */
  lockTimeout: 60,
} as const;
