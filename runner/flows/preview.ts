/** The preview flow: changed paths -> affected stacks -> real previews, a bounded number at once. */
import type { Context } from "../services/context";
import { affectedStacks, programFiles, programFilesAmong } from "../services/changes";
import { runOperation, type StackResult } from "../services/workspace";
import { openStack } from "../services/engine";
import { GitopsError, stopIfAborted } from "../errors";
import * as git from "../services/git";
import {
  engineVersions,
  makeFingerprint,
  plannedChanges,
  recordReview,
  reviewRequired,
  reviewsIn,
  stackInputs,
  stateVersion,
} from "../services/reviews";
import { missingSalt } from "../services/stackFiles";
import { checkStackFiles, discoverStacks, selectStacks } from "../services/stacks";
import { pool } from "../services/pool";

export interface PreviewOptions {
  base?: string;
  stacks?: string[];
  all?: boolean;
  parallel: number;
  signal?: AbortSignal;
}

export interface PreviewOutcome {
  commit: string;
  results: StackResult[];
  unaffected: string[];
}

/** The ref a branch is compared with, and its commit: the remote's protected branch, else the local one. */
async function defaultBase(ctx: Context): Promise<{ ref: string; commit?: string }> {
  const { remote, protectedBranch } = ctx.rules;
  const [known, tip] = await Promise.all([
    git.hasRemote(ctx.repo, remote),
    git.resolveCommit(ctx.repo, `refs/remotes/${remote}/${protectedBranch}`),
  ]);
  if (known && tip) return { ref: `${remote}/${protectedBranch}`, commit: tip };
  return { ref: protectedBranch, commit: await git.resolveCommit(ctx.repo, protectedBranch) };
}

async function chooseStacks(
  ctx: Context,
  o: Pick<PreviewOptions, "base" | "stacks" | "all">,
  all: string[],
  program: () => Promise<Set<string>>,
): Promise<string[]> {
  if (o.stacks?.length) return selectStacks(all, o.stacks);
  if (o.all) return all;
  const { ref: base, commit: baseCommit } = o.base
    ? { ref: o.base, commit: await git.resolveCommit(ctx.repo, o.base) }
    : await defaultBase(ctx);
  if (!baseCommit)
    throw new GitopsError(
      `base ref '${base}' does not name a commit`,
      "fetch it (`git fetch origin main`), pass --base <ref>, or preview explicitly with --stack <name> or --all",
    );
  const from = await git.mergeBase(ctx.repo, baseCommit, "HEAD");
  const paths = await git.changedPaths(ctx.repo, from, "HEAD");
  const affected = affectedStacks(paths, all, ctx.rules, await programFilesAmong(paths, program));
  ctx.log.info(
    `${paths.length} path(s) changed since ${base} (${from.slice(0, 7)}): ${affected.stacks.length ? "affects " + affected.stacks.join(", ") : "no stack affected"}`,
  );
  for (const s of affected.stacks) ctx.log.debug(`${s} <- ${affected.reasons[s].join(", ")}`);
  return affected.stacks;
}

/**
 * The stacks a preview with these options runs on (their stack files checked), and the others. Also
 * what `gitops affected` lists for a pipeline matrix, so a matrix previews exactly these. `program`
 * gives HEAD's program files (programFiles), read only when the branch's changes choose the stacks.
 */
export async function previewTargets(
  ctx: Context,
  o: Pick<PreviewOptions, "base" | "stacks" | "all">,
  program = () => programFiles(ctx.repo, "HEAD"),
): Promise<{ all: string[]; targets: string[]; unaffected: string[] }> {
  const all = discoverStacks(ctx.repo, ctx.rules);
  const targets = await chooseStacks(ctx, o, all, program);
  checkStackFiles(ctx.repo, targets);
  return { all, targets, unaffected: all.filter((s) => !targets.includes(s)) };
}

/**
 * Whether this preview is a review: a pull request's, of a commit the protected branch does not
 * contain yet. A preview of what is already merged reviews nothing (it shows the fingerprint that
 * `apply --accept` names).
 */
async function reviewable(ctx: Context, commit: string, dirty: string[]): Promise<boolean> {
  if (dirty.length) return false;
  const tip = await git.mainTip(ctx.repo, ctx.rules);
  return !tip || !(await git.isAncestor(ctx.repo, commit, tip));
}

export async function preview(ctx: Context, o: PreviewOptions): Promise<PreviewOutcome> {
  const [commit, dirty] = await Promise.all([git.headCommit(ctx.repo), git.dirtyPaths(ctx.repo)]);
  if (dirty.length) {
    ctx.log.warn(`uncommitted changes are ignored when choosing stacks (the previews still run on the working tree): ${dirty.join(", ")}`);
  }
  // The program's files, read once: before the engine only when they choose the stacks, else while
  // the first preview runs, as only the fingerprints after the previews need them.
  let programRead: Promise<Set<string>> | undefined;
  const program = () => (programRead ??= programFiles(ctx.repo, commit));
  // Whether this preview is a review is asked while the branch's changes choose the stacks.
  const reviewing = reviewable(ctx, commit, dirty);
  reviewing.catch(() => undefined);
  const { all, targets, unaffected } = await previewTargets(ctx, o, program);
  const review = await reviewing;
  const results = await pool(targets, o.parallel, async (name) => {
    const log = ctx.log.child(name);
    stopIfAborted(o.signal, `before ${name} was previewed`);
    log.info("previewing");
    const stack = openStack(ctx.engine, ctx.repo, name, true);
    // Recorded only where apply will look for it (the rules at this commit, which a merge carries).
    const record = review && reviewRequired(ctx.rules, all, name);
    // The state, the engine's version and the reviews to keep are read while the engine starts up (a
    // preview changes none of them); their errors, if any, are reported once the preview has ended,
    // as its own come first.
    const reading = Promise.all([stateVersion(stack), engineVersions(ctx.engine), record ? stack.listTags() : {}]);
    reading.catch(() => undefined);
    // The program's files, for the fingerprint, are read while the engine previews too; an error
    // surfaces where the fingerprint awaits them. A dirty tree gets no fingerprint.
    if (!dirty.length) program().catch(() => undefined);
    const result = await runOperation(stack, "preview", { log, commit, signal: o.signal });
    const [state, engine, tags] = await reading;
    // What was previewed is fingerprinted only when it is what git holds: a dirty tree ran files no commit has.
    if (result.status === "succeeded" && !dirty.length) {
      const inputs = await stackInputs(ctx.repo, commit, name, all, ctx.rules, await program());
      const changes = plannedChanges(result);
      result.fingerprint = makeFingerprint({
        stack: name,
        commit,
        time: ctx.now().toISOString(),
        inputs,
        engine,
        state: state.state,
        changes,
      });
      log.info(`fingerprint ${result.fingerprint.id}${record ? ", recorded as reviewed" : ""}`);
      if (record) await recordReview(stack, result.fingerprint, reviewsIn(tags));
    }
    const lacking = missingSalt(ctx.repo, name);
    if (lacking) result.diagnostics.push({ severity: "warning", message: lacking });
    return result;
  });
  return { commit, results, unaffected };
}
