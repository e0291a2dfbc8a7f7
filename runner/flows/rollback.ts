/**
 * Rollback: deploy an older commit, exactly, from a temporary checkout, and pin the stack to it so
 * that nothing re-applies main over it until someone unpins it.
 */
import type { Context } from "../services/context";
import { affectedStacks, programFiles } from "../services/changes";
import { withCheckout } from "../services/checkout";
import { deploy, type DeployOutcome } from "../services/deploy";
import { runOperation, type StackResult } from "../services/workspace";
import { openStack, type Stack } from "../services/engine";
import { refused, stopIfAborted } from "../errors";
import * as git from "../services/git";
import { readRecord, setPin, TAG } from "../services/records";
import { previousCommit } from "../services/rollback";
import { summaryLine } from "../services/report";
import { checkStackFiles, discoverStacks, selectStacks } from "../services/stacks";

export interface RollbackOptions {
  stack: string;
  /** A commit, tag, HEAD~n, or `previous`. */
  to: string;
  /** Allow a commit the protected branch does not contain (recorded on the stack). */
  force?: boolean;
  lockTimeout: number;
  /**
   * Asked after a preview; resolves true to go ahead. Without it (--yes) nothing would read that
   * preview: none runs, and the update is the rollback's only engine run.
   */
  confirm?: (preview: StackResult) => Promise<boolean>;
  signal?: AbortSignal;
}

export interface RollbackOutcome extends DeployOutcome {
  commit: string;
  /** The preview the user confirmed (none under --yes). */
  preview?: StackResult;
  /** Set when the user declined at the confirmation. */
  declined?: boolean;
  /** The git command that makes main declare what now runs. */
  gitHint?: string;
}

async function resolveTarget(ctx: Context, stack: Stack, to: string, current: string | undefined): Promise<string> {
  if (to === "previous") return previousCommit(stack, current);
  return git.requireCommit(ctx.repo, to, "rollback target");
}

const shellWord = (s: string) => (/^[\w./@%+=:,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * How to make git the truth again once the old commit runs: restore from it only the paths, changed
 * since, that decide this stack (its file, the program's files, its rules), by the same rule apply
 * uses. When some of them decide other stacks too, the hint names those stacks: the commit would
 * change what they deploy as well.
 */
async function revertHint(ctx: Context, target: string, name: string): Promise<string | undefined> {
  const tip = await git.mainTip(ctx.repo, ctx.rules);
  if (!tip || tip === target) return undefined;
  const all = discoverStacks(ctx.repo, ctx.rules);
  const affected = affectedStacks(await git.changedPaths(ctx.repo, target, tip), all, ctx.rules, await programFiles(ctx.repo, tip));
  const paths = affected.reasons[name];
  if (!paths?.length) return undefined;
  const short = target.slice(0, 7);
  const restore = `git restore --source=${short} --staged --worktree -- ${paths.map(shellWord).join(" ")} && git commit -m "Roll ${name} back to ${short}"`;
  const others = all.filter((s) => s !== name && affected.reasons[s]?.some((p) => paths.includes(p)));
  const shared = paths.filter((p) => others.some((s) => affected.reasons[s].includes(p)));
  return others.length
    ? `${restore}\n(this also rolls back ${others.join(", ")}: ${others.length > 1 ? "they depend" : "it depends"} on ${shared.join(", ")} too)`
    : restore;
}

/** The protected branch's real tip: fetched from the remote when there is one (a local tracking ref may be stale). */
async function remoteMainTip(ctx: Context): Promise<string | undefined> {
  const { remote, protectedBranch } = ctx.rules;
  if (await git.hasRemote(ctx.repo, remote)) return git.fetchRemoteTip(ctx.repo, remote, protectedBranch, { timeoutMs: ctx.gitTimeoutMs });
  return git.resolveCommit(ctx.repo, protectedBranch);
}

export async function rollback(ctx: Context, o: RollbackOptions): Promise<RollbackOutcome> {
  const [name] = selectStacks(discoverStacks(ctx.repo, ctx.rules), [o.stack]);
  const current = openStack(ctx.engine, ctx.repo, name, false);
  const record = await readRecord(current);
  const commit = await resolveTarget(ctx, current, o.to, record.commit);
  const tip = await remoteMainTip(ctx);
  const onMain = tip !== undefined && (await git.isAncestor(ctx.repo, commit, tip));
  if (!onMain && !o.force) {
    throw refused(
      `commit ${commit.slice(0, 7)} is not on ${ctx.rules.protectedBranch}`,
      `only what ${ctx.rules.protectedBranch} contains is deployed; merge it first, or pass --force to deploy it anyway (recorded on the stack)`,
    );
  }
  const subject = (await git.commitSubject(ctx.repo, commit)) ?? "";
  ctx.log.info(`rolling ${name} back to ${commit.slice(0, 7)} ${subject}`);
  stopIfAborted(o.signal, `before ${name} was rolled back`);
  return withCheckout(ctx, commit, async (checkout) => {
    stopIfAborted(o.signal, `before ${name} was rolled back`);
    ctx.log.info(checkout.reusedDependencies ? "same lockfile: reusing node_modules" : "installed that commit's dependencies");
    checkStackFiles(checkout.dir, [name]);
    const stack = openStack(ctx.engine, checkout.dir, name, false);
    let preview: StackResult | undefined;
    if (o.confirm) {
      stopIfAborted(o.signal, `before ${name} was previewed`);
      preview = await runOperation(stack, "preview", { log: ctx.log.child(name), commit, signal: o.signal });
      ctx.log.info(summaryLine(preview));
      if (preview.status === "failed") return { commit, preview, results: [preview] };
      if (!(await o.confirm(preview))) return { commit, preview, results: [], declined: true };
    }
    const out = await deploy(ctx, commit, "rollback", [stack], { lockTimeout: o.lockTimeout, older: true, signal: o.signal }, subject);
    if (out.results[0]?.status === "succeeded") {
      await setPin(stack, commit);
      if (!onMain) await stack.setTag(TAG.forced, `rollback to ${commit} not on ${ctx.rules.protectedBranch}`);
    }
    return { ...out, commit, preview, gitHint: await revertHint(ctx, commit, name) };
  });
}

export async function unpin(ctx: Context, name: string): Promise<string | undefined> {
  selectStacks(discoverStacks(ctx.repo, ctx.rules), [name]);
  const stack = openStack(ctx.engine, ctx.repo, name, false);
  const { pin } = await readRecord(stack);
  await setPin(stack, undefined);
  return pin;
}
