/**
 * Everything a flow needs, resolved once from the command line and the environment at the entry
 * point. Below this, nothing reads process.env or process.cwd().
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { durationMs } from "../../config/duration";
import { cacheRoot, compileCacheDir } from "./caches";
import type { EngineSettings } from "./engine";
import { usageError } from "../errors";
import { DEFAULT_NETWORK_TIMEOUT, repoRoot } from "./git";
import { createLogger, type Logger } from "../log";
import { loadRules, type Rules } from "./rules";

export interface Context {
  /** Root of the checkout the runner works on. */
  repo: string;
  rules: Rules;
  engine: EngineSettings;
  log: Logger;
  /** Where state backups go before every change. */
  backupDir: string;
  /** The bound of every git call that talks to a remote. */
  gitTimeoutMs: number;
  now: () => Date;
}

export interface GlobalOptions {
  repo?: string;
  backend?: string;
  debug?: boolean;
  quiet?: boolean;
}

/** The directory, in the repository, of the embedded backend's state and of the backups. */
export const LOCAL_DIR = ".pulumi-gitops";

/** GITOPS_GIT_TIMEOUT, a duration like 30s or 5m: how long a git call may wait for a remote. */
export function gitTimeoutMs(env: NodeJS.ProcessEnv): number {
  const text = env.GITOPS_GIT_TIMEOUT ?? DEFAULT_NETWORK_TIMEOUT;
  const ms = durationMs(text);
  if (!ms)
    throw usageError(
      `GITOPS_GIT_TIMEOUT '${text}' is not a duration longer than zero`,
      "write it like 30s, 5m or 1h30m (a bare number is seconds), or unset it for the default of " + DEFAULT_NETWORK_TIMEOUT,
    );
  return ms;
}

/** Only for render-mode stacks on the embedded local default; the README says it is for demos only. */
export const DEMO_PASSPHRASE = "pulumi-gitops-demo";

/**
 * This runner's installation, which holds the engine pins in tools/ (the repo it works on may not):
 * the directory of its package.json, above the sources or above their compiled copy in dist/.
 */
export const INSTALL_DIR = ((): string => {
  for (let d = __dirname; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, "package.json"))) return d;
    if (path.dirname(d) === d) throw new Error(`no package.json above ${__dirname}`);
  }
})();

/** The CLI version provision/pulumi-engine.sh provisions, read from the same pin. */
export function pinnedCliVersion(installDir = INSTALL_DIR): string {
  const gomod = fs.readFileSync(path.join(installDir, "tools", "pulumi", "go.mod"), "utf8");
  const m = /github\.com\/pulumi\/pulumi\/pkg\/v3 (v[\d.]+)/.exec(gomod);
  if (!m) throw new Error("tools/pulumi/go.mod does not pin github.com/pulumi/pulumi/pkg/v3");
  return m[1];
}

/** The engine directory, by the same rule as provision/pulumi-engine.sh. */
export function engineDir(env: NodeJS.ProcessEnv): string {
  if (env.PULUMI_GITOPS_ENGINE) return env.PULUMI_GITOPS_ENGINE;
  return path.join(cacheRoot(env), "engine", pinnedCliVersion());
}

export async function createContext(o: GlobalOptions, env: NodeJS.ProcessEnv, cwd: string): Promise<Context> {
  const repo = await repoRoot(path.resolve(cwd, o.repo ?? "."));
  // An empty variable counts as unset: CI passes a repository variable or secret that was never
  // set as '' (GitHub's `${{ vars.X }}`), which no backend or passphrase is.
  const backendEnv = env.PULUMI_BACKEND_URL || undefined;
  const passphraseEnv = env.PULUMI_CONFIG_PASSPHRASE || undefined;
  const embedded = !o.backend && !backendEnv;
  const localDir = path.join(repo, LOCAL_DIR);
  const backendUrl = o.backend ?? backendEnv ?? `file://${path.join(localDir, "state")}`;
  if (embedded) fs.mkdirSync(path.join(localDir, "state"), { recursive: true });
  const dir = engineDir(env);
  // The demo passphrase is only a default of the embedded backend; the engine refuses it for any
  // stack that targets real infrastructure (guardPassphrase).
  const passphraseFile = passphraseEnv ? undefined : env.PULUMI_CONFIG_PASSPHRASE_FILE || undefined;
  const passphrase = passphraseEnv ?? (passphraseFile || !embedded ? undefined : DEMO_PASSPHRASE);
  return {
    repo,
    rules: loadRules(repo),
    engine: {
      engineDir: dir,
      pulumiHome: env.PULUMI_HOME ?? path.join(dir, "home"),
      backendUrl,
      passphrase,
      passphraseFile: passphraseFile && path.resolve(cwd, passphraseFile),
      root: repo,
      inheritedPath: env.PATH ?? "",
      compileCache: compileCacheDir(env),
    },
    log: createLogger(o.debug ? "debug" : o.quiet ? "warn" : "info"),
    backupDir: env.GITOPS_BACKUP_DIR ?? path.join(localDir, "backups"),
    gitTimeoutMs: gitTimeoutMs(env),
    now: () => new Date(),
  };
}
