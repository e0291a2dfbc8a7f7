/**
 * The stack commands that act on the state and the stack's file directly: restore a backup, write a
 * stack file's engine-made `encryptionsalt:` line, and the engine's own CLI with the runner's setup.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Deployment } from "@pulumi/pulumi/automation";
import { stackFileName, stackFileSecrets } from "../../config";
import type { Context } from "./context";
import { engineBin, engineEnv, guardPassphrase, openStack } from "./engine";
import { GitopsError, usageError } from "../errors";
import { exportState, importState, writeRecord, writeRestoreRecord, type BackupRecord } from "./records";
import { checkStackFiles, discoverStacks, selectStacks } from "./stacks";

export interface RestoreOutcome {
  file: string;
  /** The commit the restored state was deployed from, now the stack's recorded commit. */
  commit?: string;
}

/** The newest backup of `stack` (backup names start with their time). */
function newestBackup(backupDir: string, stack: string): string {
  const dir = path.join(backupDir, stack);
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".json"))
        .sort()
    : [];
  if (!files.length)
    throw new GitopsError(
      `there is no backup of stack ${stack} in ${dir}`,
      "name one with --file <backup>; gitops saves one before every update it makes (GITOPS_BACKUP_DIR moves them)",
    );
  return path.join(dir, files[files.length - 1]);
}

/** Reads a backup: a `pulumi stack export`, with the record gitops keeps beside the state. */
function readBackup(file: string): { state: Deployment; record?: BackupRecord } {
  let parsed: Deployment & { gitops?: BackupRecord };
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw usageError(
      `cannot read the backup ${file}: ${(err as Error).message}`,
      "pass a file that gitops saved (in .pulumi-gitops/backups/<stack>/) or that `pulumi stack export` wrote",
    );
  }
  if (!parsed || typeof parsed.deployment !== "object" || typeof parsed.version !== "number") {
    throw usageError(
      `${file} is not a state export`,
      "pass a file that gitops saved (in .pulumi-gitops/backups/<stack>/) or that `pulumi stack export` wrote",
    );
  }
  const { gitops: record, ...state } = parsed;
  return { state, record };
}

/**
 * Imports a backup into the stack through the engine (which takes the stack's lock: a running update
 * makes it fail), and records the backup's commit, so that the next apply deploys what changed since.
 */
export async function restore(ctx: Context, name: string, file?: string): Promise<RestoreOutcome> {
  selectStacks(discoverStacks(ctx.repo, ctx.rules), [name]);
  const backup = file ? path.resolve(file) : newestBackup(ctx.backupDir, name);
  const { state, record } = readBackup(backup);
  if (record && record.stack !== name)
    throw usageError(
      `${backup} is a backup of stack ${record.stack}, not ${name}`,
      `restore it with --stack ${record.stack}, or name a backup of ${name}`,
    );
  const stack = openStack(ctx.engine, ctx.repo, name, true);
  await importState(stack, state);
  const now = ctx.now();
  if (record?.commit) await writeRecord(stack, "restore", record.commit, true, now);
  // Without a known commit the next apply deploys the stack in full, which brings it to main.
  else await writeRestoreRecord(stack, now);
  return { file: backup, commit: record?.commit };
}

export interface InitOutcome {
  file: string;
  /** False when the file already held the stack's salt. */
  written: boolean;
}

/**
 * Creates the stack in the backend (when it is not there yet) and writes its `encryptionsalt:` line,
 * the passphrase provider's salt that the stack's state records, at the top of its file; the rest
 * of the file stays as it was. Then `pulumi config set --secret` encrypts values the runner can read.
 */
export async function initStack(ctx: Context, name: string): Promise<InitOutcome> {
  const rel = stackFileName(name);
  const file = path.join(ctx.repo, rel);
  if (!fs.existsSync(file))
    throw usageError(
      `there is no ${rel}`,
      "write the stack's file first (copy stacks/Pulumi.dev.yaml and adapt it; config/README.md lists the keys), then run init-stack again",
    );
  checkStackFiles(ctx.repo, [name]);
  const stack = openStack(ctx.engine, ctx.repo, name, true);
  const state = await exportState(stack, ctx.backupDir);
  const provider = (state.deployment as { secrets_providers?: { type?: string; state?: { salt?: string } } }).secrets_providers;
  if (provider?.type !== "passphrase" || !provider.state?.salt) {
    throw new GitopsError(
      `stack ${name} uses the '${provider?.type ?? "service"}' secrets provider, not a passphrase: there is no salt to write`,
      "its file needs no encryptionsalt: line; `gitops pulumi -- config set --secret` encrypts values with its provider",
    );
  }
  const text = fs.readFileSync(file, "utf8");
  const line = `encryptionsalt: ${provider.state.salt}`;
  const current = /^encryptionsalt:.*$/m.exec(text)?.[0];
  if (current?.trim() === line) return { file: rel, written: false };
  if (current) {
    throw new GitopsError(
      `${rel} has another encryptionsalt than stack ${name} in the backend`,
      `its secure: values were made for another stack or passphrase: remove the encryptionsalt: line and those values, run \`gitops init-stack ${name}\` again, and set them again with \`gitops pulumi -- config set --secret --stack ${name} ...\``,
    );
  }
  fs.writeFileSync(file, `${line}\n${text}`);
  return { file: rel, written: true };
}

/**
 * What a stack file lacks for its secrets, said on the pull request: `secure:` values without the
 * `encryptionsalt:` line they were made with decrypt only while the stack's state records that
 * salt, so a recreated stack or another backend cannot read them.
 */
export function missingSalt(workDir: string, stack: string): string | undefined {
  const rel = stackFileName(stack);
  let text: string;
  try {
    text = fs.readFileSync(path.join(workDir, rel), "utf8");
  } catch {
    return undefined;
  }
  if (!stackFileSecrets(workDir, stack).length || /^(encryptionsalt|secretsprovider):/m.test(text)) return undefined;
  return `${rel} holds secure: values but no encryptionsalt: line; they decrypt only with the salt the stack's state records. Run \`gitops init-stack ${stack}\` and commit the line it writes (values made for another stack must be set again with \`gitops pulumi -- config set --secret\`)`;
}

/** The stack a `pulumi` command line names with --stack/-s, if any. */
export function stackArgument(args: string[]): string | undefined {
  for (const [i, a] of args.entries()) {
    if (a === "--stack" || a === "-s") return args[i + 1];
    const m = /^(?:--stack|-s)=(.+)$/.exec(a);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Runs the engine's own `pulumi` in the repository with the runner's environment (engine, Pulumi
 * home, backend, passphrase), attached to this terminal; resolves to its exit code.
 */
export async function runPulumi(ctx: Context, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const runnerEnv = engineEnv(ctx.engine);
  const stack = stackArgument(args);
  if (stack !== undefined) guardPassphrase(runnerEnv, ctx.repo, stack);
  const child = spawn(engineBin(ctx.engine), args, { cwd: ctx.repo, env: { ...env, ...runnerEnv }, stdio: "inherit" });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve(code ?? 128 + (signal === "SIGINT" ? 2 : 15)));
  });
}
