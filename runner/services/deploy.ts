/**
 * The one guarded update pipeline: apply, rollback and drift remediation (and the agent, through
 * apply) deploy with it. The guards on the checkout, then for each stack in order: a state backup,
 * the pending operations an interrupted update left dropped, the update (after waiting out another
 * runner's lock and checking that no newer commit runs), and the record of what now runs.
 * Read top to bottom: `guardDeploy` and `deploy` first, then the steps in the order they run.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Stack } from "./engine";
import type { Context } from "./context";
import { backoffDelay } from "./backoff";
import * as git from "./git";
import { backupState, clearPendingOperations, exportState, notePendingCleared, readRecord, TAG, writeRecord } from "./records";
import { engineError } from "./engineErrors";
import { policyPacks, runOperation, skippedResult, type StackResult } from "./workspace";
import { GitopsError, PolicyViolationError, refused, StackLockedError, StaleCommitError, stopIfAborted } from "../errors";

export interface DeployOptions {
  /** Seconds to wait for another runner's lock on a stack before giving up. */
  lockTimeout: number;
  /** Deploy over a commit that `commit` does not contain (apply --force, recorded). */
  force?: boolean;
  /** Deploying an older commit is the point (rollback): no check against what runs. */
  older?: boolean;
  /** Once aborted, no engine call starts; the running one stops gracefully unless `cancel` is given. */
  signal?: AbortSignal;
  /** Stops the running engine operation gracefully (default: `signal`): the agent lets it run on for a while after its stop. */
  cancel?: AbortSignal;
  /** A last check of the stack, made with the check against what runs (after any wait for the lock); it throws to refuse. */
  beforeUpdate?: (stack: Stack) => Promise<void>;
  /** Stacks the caller already previewed with the policy pack, without a mandatory violation. */
  policiesChecked?: ReadonlySet<string>;
}

export interface DeployOutcome {
  results: StackResult[];
  /** Set when a guard (a held lock, a newer commit running) or a stop signal ended the sequence: the command exits with its code. */
  refusal?: GitopsError;
}

/** Refuses to deploy unless on the protected branch, clean, and exactly at the remote's tip. */
export async function guardDeploy(ctx: Context, command: string): Promise<void> {
  const { protectedBranch, remote } = ctx.rules;
  // Asked side by side, and refused in this order.
  const [branch, dirty, tracked] = await Promise.all([
    git.currentBranch(ctx.repo),
    git.dirtyPaths(ctx.repo),
    git.hasRemote(ctx.repo, remote),
  ]);
  if (branch !== protectedBranch) {
    throw refused(
      `${command} runs only on the protected branch '${protectedBranch}', not on ${branch ? `'${branch}'` : "a detached HEAD"}`,
      "open a pull request and let `gitops preview` report on it; merge it to deploy",
    );
  }
  if (dirty.length) {
    throw refused(
      `the working tree has uncommitted changes: ${dirty.join(", ")}`,
      "only committed code is deployed: commit and push through a pull request, or `git stash` them",
    );
  }
  if (tracked) await git.requireUndiverged(ctx.repo, remote, protectedBranch, { timeoutMs: ctx.gitTimeoutMs });
}

/** The result of a stack that was not updated, and why. */
export const skipped = (stack: string, commit: string, reason: string): StackResult => skippedResult(stack, "update", reason, commit);

/**
 * Updates `stacks` in order (already opened on the checkout of `commit`) as `command` (recorded on
 * each stack); stops at the first failure. Every engine call is preceded by a check for a stop
 * signal; the check against what runs is read beside the backup for the first attempt to update,
 * and again for each attempt after a wait for the lock. What remains: the DIY backend takes the lock
 * inside `pulumi up`, so another runner's whole update could start and end between that check and
 * the engine taking the lock (the backup's export and the engine's start-up, about a second); no
 * outside check can close that window, as the engine offers no way to hold its lock across it.
 */
export async function deploy(
  ctx: Context,
  commit: string,
  command: string,
  stacks: Stack[],
  opts: DeployOptions,
  subject: string,
): Promise<DeployOutcome> {
  const results: StackResult[] = [];
  for (const [i, stack] of stacks.entries()) {
    const log = ctx.log.child(stack.name);
    const now = ctx.now();
    let cleared: string[];
    const message = `gitops ${command} ${commit.slice(0, 7)}: ${subject}`;
    let result: StackResult;
    try {
      stopIfAborted(opts.signal, `before ${stack.name} was deployed`);
      // What runs is read beside the backup's export: it names the backup's commit, and it is the
      // first attempt's check against what runs; an attempt after a wait for the lock reads it again.
      let running: Promise<string | undefined> | undefined = runningCommit(stack);
      const backup = await backupState(stack, ctx.backupDir, commit, now, running);
      log.debug(`state saved to ${backup.file}`);
      stopIfAborted(opts.signal, `before ${stack.name} was deployed`);
      // Exported again before each attempt: the backup's state, taken before any wait for the lock,
      // would undo an update another runner made meanwhile. Encrypted, as the backup.
      const pending = backup.state.deployment?.pending_operations?.length;
      // Clearing them may wait for the lock, while another runner deploys.
      if (pending) running = undefined;
      cleared = pending
        ? await waitingForLock(ctx, stack, opts, async () => clearPendingOperations(stack, await exportState(stack, ctx.backupDir)))
        : [];
      if (cleared.length) {
        log.warn(pendingNote(cleared));
        await notePendingCleared(stack, cleared, now);
      }
      log.info(`${command} ${commit.slice(0, 7)}`);
      result = await waitingForLock(ctx, stack, opts, async () => {
        if (!opts.older && !opts.force) await requireNewer(ctx, stack, commit, await (running ?? runningCommit(stack)));
        running = undefined;
        await opts.beforeUpdate?.(stack);
        stopIfAborted(opts.signal, `before ${stack.name} was deployed`);
        // The policy pack refuses before the update changes anything, through the engine's own preview.
        // A rollback redeploys a commit that passed it when it was deployed; its update still runs the pack.
        const gated = !opts.older && !opts.policiesChecked?.has(stack.name) && policyPacks(stack.workDir).length > 0;
        return runOperation(stack, "update", { log, commit, message, signal: opts.cancel ?? opts.signal, gated });
      });
    } catch (err) {
      if (!(err instanceof GitopsError)) throw err;
      const policies = err instanceof PolicyViolationError ? err.violations : undefined;
      results.push({ ...skipped(stack.name, commit, err.message), status: "failed", error: err.message, hint: err.hint, policies });
      for (const rest of stacks.slice(i + 1)) results.push(skipped(rest.name, commit, `not applied: ${stack.name} was not deployed`));
      return { results, refusal: err };
    }
    if (cleared.length) {
      result.pendingCleared = cleared;
      result.diagnostics.unshift({ severity: "warning", message: pendingNote(cleared) });
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

const pendingNote = (cleared: string[]) =>
  `an interrupted update left ${cleared.length} pending operation(s), now cleared; check that these were not half-made: ${cleared.join(", ")}`;

/** The lock wait's backoff: 1s, 2s, 4s ... at most 15s between attempts. */
const LOCK_RETRY = { baseMs: 1000, capMs: 15_000 };

/**
 * Runs `op`, an engine call that takes the stack's lock, again with backoff while another update
 * holds that lock, for up to `lockTimeout` seconds; then the StackLockedError goes to the caller.
 * A stop signal ends the wait at once. A lock is never broken here: its holder may be alive
 * anywhere (a host name and a pid prove nothing across containers), so clearing one is the
 * user's decision (`gitops unlock`).
 */
async function waitingForLock<T>(ctx: Context, stack: Stack, opts: DeployOptions, op: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + opts.lockTimeout * 1000;
  for (let attempt = 1; ; attempt++) {
    stopIfAborted(opts.signal, `while ${stack.name} waited for its lock`);
    try {
      return await op();
    } catch (raw) {
      const err = engineError(raw, stack.name);
      const delay = backoffDelay(attempt, LOCK_RETRY.baseMs, LOCK_RETRY.capMs);
      if (!(err instanceof StackLockedError) || Date.now() + delay > deadline) throw err;
      ctx.log.info(`${err.message}; retrying in ${delay / 1000}s`);
      // A stop ends the pause at once; the check at the top of the loop then stops the wait.
      await sleep(delay, undefined, { signal: opts.signal }).catch(() => undefined);
    }
  }
}

/**
 * Refuses to deploy `commit` over a stack that runs a commit `commit` does not contain: an older
 * pipeline that waited for the lock while a newer one deployed must not put the past back.
 */
async function requireNewer(ctx: Context, stack: Stack, commit: string, running: string | undefined): Promise<void> {
  if (!running || running === commit || (await git.isAncestor(ctx.repo, running, commit))) return;
  throw new StaleCommitError(stack.name, commit, running);
}

/**
 * The commit the stack's last successful update deployed. The update's history entry is written
 * under the stack's lock, before the engine releases it, so it is current the moment another
 * runner's lock is gone (the record's tags are written after); the tag is the fallback for
 * updates that recorded no git metadata.
 */
async function runningCommit(stack: Stack): Promise<string | undefined> {
  const updates = await stack.history(10);
  const last = updates.find((u) => u.kind === "update" && u.result === "succeeded" && u.environment?.["git.head"]);
  return last?.environment?.["git.head"] ?? (await readRecord(stack)).commit;
}
