/**
 * The apply flow: the deploy guards, then a plan from each stack's record (pinned, in sync,
 * unaffected, or due), and the due stacks through the deploy pipeline in environment order, each
 * verified by its stage's checks. A gated stack (a stage with `from`) is decided at its turn, after
 * its upstream's update: it takes its gate's candidate commit, or waits, which is no failure.
 */
import type { Context } from "../services/context";
import { affectedStacks, programFiles, programFilesAmong } from "../services/changes";
import { deploy, guardDeploy, skipped, type DeployOutcome } from "../services/deploy";
import { policyRefusal, runOperation, type StackResult } from "../services/workspace";
import { findStack, openStack, type Stack } from "../services/engine";
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
import {
  actor,
  checkStages,
  gateState,
  promoteTo,
  recheckGate,
  stageOf,
  verifyAndRecover,
  waiting,
  type Gate,
} from "../services/promotion";
import type { Stage } from "../services/rules";
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
  /** Who deploys, as recorded with a promotion: `apply` (default) or `agent`. */
  by?: string;
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
  program: () => Promise<ReadonlySet<string>>,
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
  const affected = affectedStacks(paths, all, ctx.rules, await programFilesAmong(paths, program));
  if (!affected.stacks.includes(name)) return { stack: name, skip: `nothing since ${rec.commit.slice(0, 7)} affects it` };
  return {
    stack: name,
    deploy: `changed since ${rec.commit.slice(0, 7)}: ${affected.reasons[name].slice(0, 3).join(", ")}${affected.reasons[name].length > 3 ? ", ..." : ""}`,
  };
}

/** Decides a gated stack at its turn (after its upstream's own update in this run): waits, skips, or takes the gate's candidate. */
async function planGated(
  ctx: Context,
  stack: Stack,
  stage: Stage & { from: string },
  upstream: Stack | undefined,
  head: string,
  all: string[],
  program: ReadonlySet<string>,
  o: ApplyOptions,
): Promise<{ skip?: string; wait?: Gate; promote?: Gate }> {
  const name = stack.name;
  const rec = await readRecord(stack);
  if (rec.pin && !o.force)
    return { skip: `pinned to ${rec.pin.slice(0, 7)} by a rollback; \`gitops unpin --stack ${name}\` to resume, or apply --force` };
  let gate: Gate = upstream
    ? await gateState(ctx, name, stage, upstream, head, all, program)
    : { stack: name, from: stage.from, open: false, reason: `${stage.from} has not been deployed yet` };
  const candidate = gate.candidate;
  if (!candidate) return { wait: gate };
  if (rec.commit === candidate) return { skip: `in sync with its gate: it runs ${candidate.slice(0, 7)}, what ${stage.from} verified` };
  if (rec.commit && (await git.resolveCommit(ctx.repo, rec.commit))) {
    if (!(await git.isAncestor(ctx.repo, rec.commit, candidate)) && !o.force)
      return { skip: `it runs ${rec.commit.slice(0, 7)}, which ${candidate.slice(0, 7)} (from ${stage.from}) does not contain` };
    const affected = affectedStacks(await git.changedPaths(ctx.repo, rec.commit, candidate), all, ctx.rules, program);
    if (!affected.stacks.includes(name) && !rec.pin)
      return { skip: `nothing from ${rec.commit.slice(0, 7)} to ${candidate.slice(0, 7)} (from ${stage.from}) affects it` };
  }
  if (!gate.open) return { wait: gate };
  stopIfAborted(o.signal, `before ${name}'s gate was checked`);
  gate = await recheckGate(ctx, gate, upstream!, o.signal);
  return gate.open ? { promote: gate } : { wait: gate };
}

export async function apply(ctx: Context, opts: ApplyOptions): Promise<ApplyOutcome> {
  await guardDeploy(ctx, "apply");
  stopIfAborted(opts.signal, "before any stack was deployed");
  const head = await git.headCommit(ctx.repo);
  const all = discoverStacks(ctx.repo, ctx.rules);
  checkStages(ctx, all);
  const selected = selectStacks(all, opts.stacks);
  // Before any engine runs: the engine itself reads a stack's file when it opens the stack.
  checkStackFiles(ctx.repo, selected);
  // The program's files: a plan reads them when its stack's changes could touch the program, a
  // review check and a gate always do. Read once; at once when a selected stack's review or gate
  // will need them, so the read overlaps the engine's reads of the records.
  let programRead: Promise<ReadonlySet<string>> | undefined;
  const program = () => (programRead ??= programFiles(ctx.repo, head));
  if (selected.some((n) => reviewRequired(ctx.rules, all, n) || stageOf(ctx, n)?.from !== undefined)) program().catch(() => undefined);
  const opened = new Map<string, Stack>();
  const plans = new Map<string, Plan>();
  for (const name of selected) {
    stopIfAborted(opts.signal, "before any stack was deployed");
    const stack = openStack(ctx.engine, ctx.repo, name, true);
    opened.set(name, stack);
    if (stageOf(ctx, name)?.from === undefined) plans.set(name, await planStack(ctx, stack, head, all, program, opts.force ?? false));
  }
  // A read that began fails the apply here, before any stack is deployed.
  if (programRead) await programRead;
  for (const name of selected) {
    const p = plans.get(name);
    ctx.log.info(
      `${name}: ${p ? (p.deploy ? "apply, " + p.deploy : "skip, " + p.skip) : `gated on ${stageOf(ctx, name)!.from}: decided at its turn`}`,
    );
  }
  // Every due stack's review is checked before the first one is deployed: a refusal touches nothing.
  // A gated stack's is checked at its turn, once its gate has decided what it would deploy.
  const checked = new Map<string, Checked>();
  for (const [name, p] of plans) {
    if (!p.deploy || !reviewRequired(ctx.rules, all, name)) continue;
    stopIfAborted(opts.signal, "before any stack was deployed");
    checked.set(name, await checkReview(ctx, opened.get(name)!, head, all, await program(), opts));
  }
  const stopped = [...checked.values()].filter((c) => c.failed || c.unreviewed);
  if (stopped.length) {
    const unreviewed = stopped.flatMap((c) => c.unreviewed ?? []);
    // A mandatory policy violation is refused as the deploy pipeline refuses it: no acceptance lifts it.
    const refusal =
      stopped.map((c) => policyRefusal(c.result, head)).find((r) => r !== undefined) ??
      (unreviewed.length && !stopped.some((c) => c.failed) ? new UnreviewedChangeError(unreviewed, ctx.rules.protectedBranch) : undefined);
    const first = stopped[0].result.stack;
    const results = selected.map(
      (name) => checked.get(name)?.result ?? skipped(name, head, plans.get(name)?.skip ?? `not applied: ${first} was not deployed`),
    );
    return { commit: head, results, refusal };
  }
  const subject = (await git.commitSubject(ctx.repo, head)) ?? "";
  const command = "apply";
  const beforeUpdate = (stack: Stack) => stillAsChecked(stack, checked.get(stack.name), ctx.rules.protectedBranch);
  const results: StackResult[] = [];
  let stoppedBy: string | undefined;
  for (const name of selected) {
    const stack = opened.get(name)!;
    if (stoppedBy) {
      const p = plans.get(name);
      results.push(skipped(name, head, p && !p.deploy ? p.skip! : `not applied: ${stoppedBy}`));
      continue;
    }
    const stage = stageOf(ctx, name);
    let out: DeployOutcome;
    if (stage?.from !== undefined) {
      const upstream = opened.get(stage.from) ?? (await findStack(ctx.engine, ctx.repo, stage.from));
      const g = await planGated(ctx, stack, { ...stage, from: stage.from }, upstream, head, all, await program(), opts);
      if (g.promote && reviewRequired(ctx.rules, all, name)) {
        if (g.promote.candidate !== head) {
          g.wait = {
            ...g.promote,
            open: false,
            reason: `${g.promote.reason}; but ${name} requires a reviewed preview, which is of HEAD, not of ${g.promote.candidate!.slice(0, 7)}`,
          };
          g.promote = undefined;
        } else {
          const c = await checkReview(ctx, stack, head, all, await program(), opts);
          if (c.failed || c.unreviewed) {
            results.push(c.result);
            for (const rest of selected.slice(selected.indexOf(name) + 1))
              results.push(skipped(rest, head, plans.get(rest)?.skip ?? `not applied: ${name} was not deployed`));
            const refusal =
              policyRefusal(c.result, head) ??
              (c.unreviewed ? new UnreviewedChangeError([c.unreviewed], ctx.rules.protectedBranch) : undefined);
            return { commit: head, results, refusal };
          }
          checked.set(name, c);
        }
      }
      if (g.skip) ctx.log.info(`${name}: skip, ${g.skip}`);
      if (g.wait) ctx.log.info(`${name}: waiting at its gate: ${g.wait.reason}`);
      if (!g.promote) {
        results.push(g.wait ? waiting(g.wait) : skipped(name, head, g.skip!));
        continue;
      }
      ctx.log.info(`${name}: promote ${g.promote.candidate!.slice(0, 7)}, ${g.promote.reason}`);
      out = await promoteTo(ctx, stack, head, g.promote.candidate!, g.promote, {
        ...opts,
        beforeUpdate,
        command,
        by: actor(opts.by ?? command),
      });
    } else {
      const p = plans.get(name)!;
      if (!p.deploy) {
        results.push(skipped(name, head, p.skip!));
        continue;
      }
      // A stack whose apply-time review preview ran the policy pack is not previewed with it again.
      out = await deploy(ctx, head, command, [stack], { ...opts, beforeUpdate, policiesChecked: new Set(checked.keys()) }, subject);
      const r = out.results[0];
      if (r && !out.refusal) r.reason = p.deploy;
    }
    const r = out.results[0];
    const c = checked.get(name);
    if (r && c && r.status === "succeeded") await recordReview(ctx, stack, head, r, c);
    if (r && !out.refusal && stage?.from === undefined) await verifyAndRecover(ctx, stack, head, ctx.repo, r, opts);
    results.push(...out.results);
    if (out.refusal) {
      for (const rest of selected.slice(selected.indexOf(name) + 1))
        results.push(skipped(rest, head, `not applied: ${name} was not deployed`));
      return { commit: head, results, refusal: out.refusal };
    }
    if (out.results.some((x) => x.status === "failed")) stoppedBy = `${name} failed`;
  }
  return { commit: head, results };
}

/** A reviewed (or accepted) update that succeeded: its fingerprint is on the result, the review used up. */
async function recordReview(ctx: Context, stack: Stack, head: string, r: StackResult, c: Checked): Promise<void> {
  r.fingerprint = c.now;
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
  // The state, the review records and the engine's version are read while the engine starts up (a
  // preview changes none of them); their errors, if any, are reported once the preview has ended.
  const reading = Promise.all([stateVersion(stack), stack.listTags(), engineVersions(ctx.engine)]);
  reading.catch(() => undefined);
  log.info("previewing, to compare with the reviewed preview");
  const result = await runOperation(stack, "preview", { log, commit: head, signal: opts.signal });
  const [{ state, history }, tags, engine] = await reading;
  const inputs = await stackInputs(ctx.repo, head, name, all, ctx.rules, program);
  const now = makeFingerprint({
    stack: name,
    commit: head,
    time: ctx.now().toISOString(),
    inputs,
    engine,
    state,
    changes: plannedChanges(result),
  });
  result.fingerprint = now;
  if (result.status === "failed") return { result, now, failed: true };
  const review = findReview(reviewsIn(tags), now);
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
