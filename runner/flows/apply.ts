/**
 * The apply flow: the deploy guards, then a plan from each stack's record (pinned, in sync,
 * unaffected, or due), and the due stacks through the deploy pipeline in environment order.
 */
import type { Stack } from "@pulumi/pulumi/automation";
import type { Context } from "../services/context";
import { affectedStacks, programFiles } from "../services/changes";
import { deploy, guardDeploy, skipped, type DeployOutcome } from "../services/deploy";
import { openStack, runOperation, type StackResult } from "../services/workspace";
import { stopIfAborted, UnreviewedChangeError, type UnreviewedStack } from "../errors";
import * as git from "../services/git";
import { readRecord } from "../services/records";
import {
  ACCEPTED_TAG,
  consumeReview,
  differences,
  engineVersions,
  findReview,
  makeFingerprint,
  plannedChanges,
  reviewRequired,
  reviewsIn,
  stackInputs,
  stateMoved,
  stateVersion,
  type Fingerprint,
} from "../services/reviews";
import { checkStackFiles, discoverStacks, selectStacks } from "../services/stacks";

export interface ApplyOptions {
  stacks?: string[];
  /** Apply pinned stacks too, and over a commit HEAD does not contain (recorded on the stack). */
  force?: boolean;
  /** Seconds to wait for another runner's lock on a stack before giving up. */
  lockTimeout: number;
  /** Once aborted, no engine call starts; the running one stops gracefully unless `cancel` is given. */
  signal?: AbortSignal;
  /** Stops the running engine operation gracefully (default: `signal`): the agent lets it run on for a while after its stop. */
  cancel?: AbortSignal;
  /** Fingerprints (of what apply would deploy now) to deploy although no reviewed preview showed them; recorded. */
  accept?: string[];
}

export interface ApplyOutcome extends DeployOutcome {
  commit: string;
}

interface Plan {
  stack: string;
  /** Why it is deployed, or undefined when it is skipped (then `skip` says why). */
  deploy?: string;
  skip?: string;
}

/** Decides one stack from its record: pinned, in sync, unaffected since its commit, or due. */
async function planStack(
  ctx: Context,
  stack: Stack,
  head: string,
  all: string[],
  program: ReadonlySet<string>,
  force: boolean,
): Promise<Plan> {
  const name = stack.name;
  const rec = await readRecord(stack);
  if (rec.pin && !force)
    return {
      stack: name,
      skip: `pinned to ${rec.pin.slice(0, 7)} by a rollback; \`gitops unpin --stack ${name}\` to resume, or apply --force`,
    };
  if (!rec.commit) return { stack: name, deploy: "never deployed by gitops" };
  if (rec.pin && force) return { stack: name, deploy: `pinned to ${rec.pin.slice(0, 7)}, overridden by --force` };
  if (rec.commit === head) return { stack: name, skip: "in sync" };
  if (!(await git.resolveCommit(ctx.repo, rec.commit)) || !(await git.isAncestor(ctx.repo, rec.commit, head))) {
    return { stack: name, deploy: `its commit ${rec.commit.slice(0, 7)} is not in the history of HEAD` };
  }
  const paths = await git.changedPaths(ctx.repo, rec.commit, head);
  const affected = affectedStacks(paths, all, ctx.rules, program);
  if (!affected.stacks.includes(name)) return { stack: name, skip: `nothing since ${rec.commit.slice(0, 7)} affects it` };
  return {
    stack: name,
    deploy: `changed since ${rec.commit.slice(0, 7)}: ${affected.reasons[name].slice(0, 3).join(", ")}${affected.reasons[name].length > 3 ? ", ..." : ""}`,
  };
}

export async function apply(ctx: Context, opts: ApplyOptions): Promise<ApplyOutcome> {
  await guardDeploy(ctx, "apply");
  stopIfAborted(opts.signal, "before any stack was deployed");
  const head = await git.headCommit(ctx.repo);
  const all = discoverStacks(ctx.repo, ctx.rules);
  const selected = selectStacks(all, opts.stacks);
  // Before any engine runs: the engine itself reads a stack's file when it opens the stack.
  checkStackFiles(ctx.repo, selected);
  const program = await programFiles(ctx.repo, head);
  const opened = new Map<string, Stack>();
  const plans: Plan[] = [];
  for (const name of selected) {
    stopIfAborted(opts.signal, "before any stack was deployed");
    const stack = await openStack(ctx.engine, ctx.repo, name, true);
    opened.set(name, stack);
    plans.push(await planStack(ctx, stack, head, all, program, opts.force ?? false));
  }
  const due = plans.filter((p) => p.deploy);
  for (const p of plans) ctx.log.info(`${p.stack}: ${p.deploy ? "apply, " + p.deploy : "skip, " + p.skip}`);
  // Every stack's review is checked before the first one is deployed: a refusal touches nothing.
  const checked = new Map<string, Checked>();
  for (const p of due) {
    if (!reviewRequired(ctx.rules, all, p.stack)) continue;
    stopIfAborted(opts.signal, "before any stack was deployed");
    checked.set(p.stack, await checkReview(ctx, opened.get(p.stack)!, head, all, program, opts));
  }
  const stopped = [...checked.values()].filter((c) => c.failed || c.unreviewed);
  if (stopped.length) {
    const unreviewed = stopped.flatMap((c) => c.unreviewed ?? []);
    const refusal = unreviewed.length ? new UnreviewedChangeError(unreviewed, ctx.rules.protectedBranch) : undefined;
    const first = stopped[0].result.stack;
    const results = plans.map(
      (p) => checked.get(p.stack)?.result ?? skipped(p.stack, head, p.skip ?? `not applied: ${first} was not deployed`),
    );
    return { commit: head, results, refusal: stopped.some((c) => c.failed) ? undefined : refusal };
  }
  const subject = (await git.commitSubject(ctx.repo, head)) ?? "";
  const { results: deployed, refusal } = await deploy(
    ctx,
    head,
    "apply",
    due.map((p) => opened.get(p.stack)!),
    { ...opts, beforeUpdate: (stack) => stillAsChecked(stack, checked.get(stack.name), ctx.rules.protectedBranch) },
    subject,
  );
  const byName = new Map(deployed.map((r) => [r.stack, r]));
  const results = plans.map((p) => byName.get(p.stack) ?? skipped(p.stack, head, p.skip!));
  for (const r of results) if (r.status !== "skipped" && !r.reason) r.reason = plans.find((p) => p.stack === r.stack)?.deploy;
  for (const r of results) {
    const c = checked.get(r.stack);
    if (!c || r.status !== "succeeded") continue;
    r.fingerprint = c.now;
    const stack = opened.get(r.stack)!;
    if (c.review) {
      r.reason += `; as reviewed at ${c.review.commit.slice(0, 7)}`;
      await consumeReview(stack, c.review);
    } else if (c.nothingPlanned) {
      r.reason += "; no change planned, nothing to review";
    } else {
      r.reason += `; fingerprint ${c.now.id} accepted with --accept`;
      await stack.setTag(ACCEPTED_TAG, `${c.now.id} at ${head} ${ctx.now().toISOString()}`);
    }
  }
  return { commit: head, results, refusal };
}

interface Checked {
  /** The apply-time preview: what the update will do, and its fingerprint (`now`). */
  result: StackResult;
  now: Fingerprint;
  /** The reviewed preview that matches, or undefined when `now` was accepted by --accept or plans nothing. */
  review?: Fingerprint;
  /** The preview plans no change: there is nothing to review. */
  nothingPlanned?: boolean;
  /** Set when neither a reviewed preview nor --accept covers `now`. */
  unreviewed?: UnreviewedStack;
  /** The preview itself failed: the update would fail the same way. */
  failed?: boolean;
}

/**
 * Previews `stack` as apply would deploy it and compares its fingerprint with the reviewed
 * preview of the same change (or an accepted fingerprint). Changes nothing.
 */
async function checkReview(
  ctx: Context,
  stack: Stack,
  head: string,
  all: string[],
  program: ReadonlySet<string>,
  opts: ApplyOptions,
): Promise<Checked> {
  const name = stack.name;
  const log = ctx.log.child(name);
  const { state, history } = await stateVersion(stack);
  log.info("previewing, to compare with the reviewed preview");
  const result = await runOperation(stack, "preview", { log, commit: head, signal: opts.signal });
  const inputs = await stackInputs(ctx.repo, head, name, all, ctx.rules, program);
  const now = makeFingerprint({
    stack: name,
    commit: head,
    time: ctx.now().toISOString(),
    inputs,
    engine: engineVersions(stack, ctx.engine),
    state,
    changes: plannedChanges(result),
  });
  result.fingerprint = now;
  if (result.status === "failed") return { result, now, failed: true };
  const review = findReview(reviewsIn(await stack.listTags()), now);
  if (review?.id === now.id) return { result, now, review };
  // An update that plans no change deploys nothing anyone could have reviewed: only the commit is recorded.
  if (!now.changes.length) return { result, now, nothingPlanned: true };
  if (opts.accept?.includes(now.id)) return { result, now };
  const unreviewed = { stack: name, id: now.id, reviewed: review?.commit, differences: review ? differences(review, now, history) : [] };
  const refused = {
    ...result,
    status: "failed" as const,
    error: `not deployed: ${review ? "it differs from its reviewed preview" : "no reviewed preview"} (fingerprint ${now.id})`,
  };
  return { result: refused, now, unreviewed };
}

/**
 * Right before the update, after any wait for the lock: the state is still the version the check
 * saw, else another update (a second apply, a rollback) moved it meanwhile and the check is void.
 */
async function stillAsChecked(stack: Stack, c: Checked | undefined, protectedBranch: string): Promise<void> {
  if (!c) return;
  const { state, history } = await stateVersion(stack);
  const moved = stateMoved(c.now.state, state, history);
  if (moved)
    throw new UnreviewedChangeError(
      [{ stack: stack.name, id: c.now.id, reviewed: c.review?.commit ?? c.now.commit, differences: [moved] }],
      protectedBranch,
    );
}
