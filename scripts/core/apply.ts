/**
 * The apply flow: guards, then each out-of-sync stack in environment order, a state backup before
 * each update, the commit recorded after it, and a stop at the first failure.
 */
import * as os from "node:os";
import type { Stack } from "@pulumi/pulumi/automation";
import type { Context } from "./context";
import { affectedStacks } from "./changes";
import { emptyCounts, engineError, openStack, runOperation, type StackResult } from "./engine";
import { ExitCode, GitopsError, refused } from "./errors";
import * as git from "./git";
import type { Logger } from "./log";
import { backupState, clearPendingOperations, readRecord, TAG, writeRecord } from "./record";
import { checkStackFiles, discoverStacks, selectStacks } from "./stacks";

export interface ApplyOptions {
  stacks?: string[];
  /** Apply pinned stacks too (the override is recorded on the stack). */
  force?: boolean;
  /** Seconds to wait for another runner's lock on a stack before giving up. */
  lockTimeout: number;
  signal?: AbortSignal;
}

export interface ApplyOutcome extends DeployOutcome {
  commit: string;
}

/** Refuses to deploy unless on the protected branch, clean, and exactly at the remote's tip. */
export async function guardDeploy(ctx: Context, command: string): Promise<void> {
  const { protectedBranch, remote } = ctx.rules;
  const branch = await git.currentBranch(ctx.repo);
  if (branch !== protectedBranch) {
    throw refused(`${command} runs only on the protected branch '${protectedBranch}', not on ${branch ? `'${branch}'` : "a detached HEAD"}`, "open a pull request and let `gitops preview` report on it; merge it to deploy");
  }
  const dirty = await git.dirtyPaths(ctx.repo);
  if (dirty.length) {
    throw refused(`the working tree has uncommitted changes: ${dirty.join(", ")}`, "only committed code is deployed: commit and push through a pull request, or `git stash` them");
  }
  if (await git.hasRemote(ctx.repo, remote)) await git.requireUndiverged(ctx.repo, remote, protectedBranch);
}

export function skipped(stack: string, commit: string, reason: string): StackResult {
  return { stack, operation: "update", commit, status: "skipped", reason, counts: emptyCounts(), changes: [], diagnostics: [], durationMs: 0 };
}

interface Plan {
  stack: string;
  /** Why it is deployed, or undefined when it is skipped (then `skip` says why). */
  deploy?: string;
  skip?: string;
}

/** Decides one stack from its record: pinned, in sync, unaffected since its commit, or due. */
async function planStack(ctx: Context, stack: Stack, head: string, all: string[], force: boolean): Promise<Plan> {
  const name = stack.name;
  const rec = await readRecord(stack);
  if (rec.pin && !force) return { stack: name, skip: `pinned to ${rec.pin.slice(0, 7)} by a rollback; \`gitops unpin --stack ${name}\` to resume, or apply --force` };
  if (!rec.commit) return { stack: name, deploy: "never deployed by gitops" };
  if (rec.pin && force) return { stack: name, deploy: `pinned to ${rec.pin.slice(0, 7)}, overridden by --force` };
  if (rec.commit === head) return { stack: name, skip: "in sync" };
  if (!(await git.resolveCommit(ctx.repo, rec.commit)) || !(await git.isAncestor(ctx.repo, rec.commit, head))) {
    return { stack: name, deploy: `its commit ${rec.commit.slice(0, 7)} is not in the history of HEAD` };
  }
  const paths = await git.changedPaths(ctx.repo, rec.commit, head);
  const affected = affectedStacks(paths, all, ctx.rules);
  if (!affected.stacks.includes(name)) return { stack: name, skip: `nothing since ${rec.commit.slice(0, 7)} affects it` };
  return { stack: name, deploy: `changed since ${rec.commit.slice(0, 7)}: ${affected.reasons[name].slice(0, 3).join(", ")}${affected.reasons[name].length > 3 ? ", ..." : ""}` };
}

/** A lock's holder that was a process on this machine and is gone: its lock is stale. */
export function deadLocalHolder(lockMessage: string): number | undefined {
  const m = /created by [^@\s]+@(\S+) \(pid (\d+)\)/.exec(lockMessage);
  if (!m || m[1] !== os.hostname()) return undefined;
  try {
    process.kill(Number(m[2]), 0);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH" ? Number(m[2]) : undefined;
  }
}

/** Runs `op`; when it meets a lock whose holder died on this machine, clears it once and reruns. */
async function clearingStaleLock<T>(stack: Stack, log: Logger, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (raw) {
    const err = engineError(raw, stack.name);
    const dead = err instanceof GitopsError && err.message.includes("is locked") ? deadLocalHolder(err.message) : undefined;
    if (dead === undefined) throw err;
    log.warn(`clearing a stale lock left by process ${dead}, which is no longer running`);
    await stack.cancel();
    return op();
  }
}

/** Runs `up`, waiting with backoff while a live runner holds the stack's lock. */
async function upWithLock(ctx: Context, stack: Stack, opts: ApplyOptions, log: Logger, run: () => Promise<StackResult>): Promise<StackResult> {
  const deadline = Date.now() + opts.lockTimeout * 1000;
  for (let delay = 1000; ; delay = Math.min(delay * 2, 15_000)) {
    try {
      return await clearingStaleLock(stack, log, run);
    } catch (err) {
      const locked = err instanceof GitopsError && err.exitCode === ExitCode.refused && err.message.includes("is locked");
      if (!locked || Date.now() + delay > deadline) throw err;
      ctx.log.info(`${stack.name} is locked by another update; retrying in ${delay / 1000}s`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export interface DeployOutcome {
  results: StackResult[];
  /** Set when a guard stopped the sequence (a held lock): the command exits 3. */
  refusal?: GitopsError;
}

/** Updates `stacks` in order (already opened on the checkout of `commit`); stops at the first failure. */
export async function deploy(ctx: Context, commit: string, command: string, stacks: Stack[], opts: ApplyOptions, subject: string): Promise<DeployOutcome> {
  const results: StackResult[] = [];
  for (const [i, stack] of stacks.entries()) {
    const log = ctx.log.child(stack.name);
    const now = ctx.now();
    const backup = await backupState(stack, ctx.backupDir, commit, now);
    log.debug(`state saved to ${backup.file}`);
    const cleared = await clearingStaleLock(stack, log, () => clearPendingOperations(stack, backup.state));
    if (cleared.length) log.warn(`an interrupted update left ${cleared.length} pending operation(s), now cleared; check that these were not half-made: ${cleared.join(", ")}`);
    log.info(`${command} ${commit.slice(0, 7)}`);
    const message = `gitops ${command} ${commit.slice(0, 7)}: ${subject}`;
    let result: StackResult;
    try {
      result = await upWithLock(ctx, stack, opts, log, () => runOperation(stack, "update", { log, commit, message, signal: opts.signal }));
    } catch (err) {
      if (!(err instanceof GitopsError)) throw err;
      results.push({ ...skipped(stack.name, commit, err.message), status: "failed", error: `${err.message}\n${err.hint}` });
      for (const rest of stacks.slice(i + 1)) results.push(skipped(rest.name, commit, `not applied: ${stack.name} was refused`));
      return { results, refusal: err };
    }
    await writeRecord(stack, command, commit, result.status === "succeeded", ctx.now());
    if (opts.force) await stack.setTag(TAG.forced, `${commit} at ${now.toISOString()}`);
    results.push(result);
    if (result.status === "failed") {
      for (const rest of stacks.slice(i + 1)) results.push(skipped(rest.name, commit, `not applied: ${stack.name} failed`));
      break;
    }
  }
  return { results };
}

export async function apply(ctx: Context, opts: ApplyOptions): Promise<ApplyOutcome> {
  await guardDeploy(ctx, "apply");
  const head = await git.headCommit(ctx.repo);
  const all = discoverStacks(ctx.repo, ctx.rules);
  const selected = selectStacks(all, opts.stacks);
  const opened = new Map<string, Stack>();
  const plans: Plan[] = [];
  for (const name of selected) {
    const stack = await openStack(ctx.engine, ctx.repo, name, true);
    opened.set(name, stack);
    plans.push(await planStack(ctx, stack, head, all, opts.force ?? false));
  }
  const due = plans.filter((p) => p.deploy);
  checkStackFiles(ctx.repo, due.map((p) => p.stack));
  for (const p of plans) ctx.log.info(`${p.stack}: ${p.deploy ? "apply, " + p.deploy : "skip, " + p.skip}`);
  const subject = (await git.commitSubject(ctx.repo, head)) ?? "";
  const { results: deployed, refusal } = await deploy(ctx, head, "apply", due.map((p) => opened.get(p.stack)!), opts, subject);
  const byName = new Map(deployed.map((r) => [r.stack, r]));
  const results = plans.map((p) => byName.get(p.stack) ?? skipped(p.stack, head, p.skip!));
  for (const r of results) if (r.status !== "skipped" && !r.reason) r.reason = plans.find((p) => p.stack === r.stack)?.deploy;
  return { commit: head, results, refusal };
}
