/**
 * Progressive promotion (stacks/gitops.yaml `stages`): a stack with `from` takes only a commit its
 * upstream stack runs, has run for the soak time, and whose checks passed there, after its update
 * and again right before the promotion. What each stack verified and what was promoted to it are
 * recorded on the stack, as tags beside the deployment record (records.ts).
 */
import * as os from "node:os";
import { durationMs } from "../../config/duration";
import type { Context } from "./context";
import { affectedStacks } from "./changes";
import { withCheckout } from "./checkout";
import { runChecks, type CheckOutcome } from "./checks";
import { deploy, type DeployOptions, type DeployOutcome } from "./deploy";
import * as git from "./git";
import { readRecord } from "./records";
import { previousCommit, rollBackTo } from "./rollback";
import type { Stage } from "./rules";
import { checkStackFiles } from "./stacks";
import { emptyCounts, type StackResult } from "./workspace";
import { openStack, type Stack } from "./engine";
import { GitopsError } from "../errors";

export const PROMOTION_TAG = {
  /** The checks' verdict on the commit the stack runs, and since when it runs it (JSON, {@link Verification}). */
  verified: "gitops:verified",
  /** The last promotion to the stack (JSON, {@link Promotion}). */
  promoted: "gitops:promoted",
} as const;

/** What a stack's checks said after the update that put `commit` there. */
export interface Verification {
  commit: string;
  /** When the update that deployed `commit` ended: the soak counts from here. */
  since: string;
  result: "passed" | "failed";
  /** The checks that passed. */
  passed: string[];
  /** The first failing check and what it saw. */
  failure?: string;
}

/** One promotion: which commit, from which stack, when, which checks passed, who or what promoted it. */
export interface Promotion {
  commit: string;
  from: string;
  time: string;
  /** `apply`, `agent` or `promote`, and the user and host. */
  by: string;
  /** The upstream's checks that passed right before the promotion. */
  passed: string[];
  /** Set when the gate was overridden: the reason given. */
  override?: string;
}

/** Where a gated stack stands. */
export interface Gate {
  stack: string;
  from: string;
  /** The commit it would take: the one `from` runs, or a newer one on the branch that changes nothing for `from`. */
  candidate?: string;
  open: boolean;
  /** Why it is closed, or what opened it. */
  reason: string;
  /** When the candidate's soak in `from` ends (ISO time). */
  soakUntil?: string;
  /** The upstream's verdict after its update. */
  verified?: Verification;
  /** The upstream's checks run right before the promotion (only once the soak is over). */
  checks?: CheckOutcome[];
}

/** Tag values stay short enough for every backend (the Pulumi Cloud takes 256 characters). */
const MAX_TAG = 256;
const short = (c: string | undefined) => c?.slice(0, 7) ?? "?";

/** `value` as JSON within the tag limit, shortening the `cut` field (free text) if need be. */
function tagJson<T extends object>(value: T, cut: keyof T): string {
  let text = JSON.stringify(value);
  const field = value[cut];
  if (text.length > MAX_TAG && typeof field === "string") {
    const keep = Math.max(0, field.length - (text.length - MAX_TAG) - 1);
    text = JSON.stringify({ ...value, [cut]: field.slice(0, keep) + "…" });
  }
  return text;
}

function readJsonTag<T>(tags: Record<string, string>, tag: string): T | undefined {
  const text = tags[tag];
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

export async function readPromotionRecords(stack: Stack): Promise<{ verified?: Verification; promoted?: Promotion }> {
  return promotionRecordsOf(await stack.listTags());
}

export function promotionRecordsOf(tags: Record<string, string>): { verified?: Verification; promoted?: Promotion } {
  return {
    verified: readJsonTag<Verification>(tags, PROMOTION_TAG.verified),
    promoted: readJsonTag<Promotion>(tags, PROMOTION_TAG.promoted),
  };
}

export async function recordPromotion(stack: Stack, p: Promotion): Promise<void> {
  await stack.setTag(PROMOTION_TAG.promoted, tagJson(p, "override"));
}

/** Who promotes: the command (or the agent) as this user on this host. */
export function actor(command: string): string {
  return `${command} (${os.userInfo().username}@${os.hostname()})`;
}

/** The stage of `stack`, if stacks/gitops.yaml gives it one. */
export function stageOf(ctx: Context, stack: string): Stage | undefined {
  return ctx.rules.stages[stack];
}

/** Every stage's `from` must name a stack of the repository. */
export function checkStages(ctx: Context, all: string[]): void {
  const bad = Object.entries(ctx.rules.stages).filter(([, s]) => s.from !== undefined && !all.includes(s.from));
  if (bad.length)
    throw new GitopsError(
      `stacks/gitops.yaml: ${bad.map(([name, s]) => `stages.${name}.from: '${s.from}' is not a stack`).join("; ")}`,
      `the stacks are ${all.join(", ")}: one stacks/Pulumi.<name>.yaml per stack`,
    );
}

/** Whether updates of `stack` are verified: it has checks, or another stack is promoted from it (and needs its soak start). */
function verifies(ctx: Context, stack: string): boolean {
  return Boolean(stageOf(ctx, stack)?.checks?.length) || Object.values(ctx.rules.stages).some((s) => s.from === stack);
}

/**
 * After a successful update of `result.stack` to `commit`: runs the stack's checks (commands in
 * `dir`, a checkout of `commit`) and records their verdict and the soak's start. A failed check
 * turns the result into a failure that says which check and what it saw. Returns the outcomes.
 */
export async function verifyUpdate(
  ctx: Context,
  stack: Stack,
  commit: string,
  dir: string,
  result: StackResult,
  signal?: AbortSignal,
): Promise<CheckOutcome[]> {
  if (result.status !== "succeeded" || !verifies(ctx, stack.name)) return [];
  const since = ctx.now().toISOString();
  const checks = stageOf(ctx, stack.name)?.checks ?? [];
  const outcomes = checks.length
    ? await runChecks(checks, {
        stack: stack.name,
        commit,
        dir,
        outputs: result.outputs ?? (await stack.outputs()),
        log: ctx.log.child(stack.name),
        signal,
      })
    : [];
  if (outcomes.length) result.checks = outcomes;
  const failed = outcomes.find((o) => !o.passed);
  const v: Verification = {
    commit,
    since,
    result: failed ? "failed" : "passed",
    passed: outcomes.filter((o) => o.passed).map((o) => o.name),
    ...(failed ? { failure: `${failed.name}: ${failed.detail}` } : {}),
  };
  await stack.setTag(PROMOTION_TAG.verified, tagJson(v, "failure"));
  if (failed) {
    result.status = "failed";
    result.error = `deployed ${short(commit)}, but its check ${failed.name} failed: ${failed.detail}`;
    result.hint = `nothing is promoted from ${stack.name} while it runs ${short(commit)}; fix it through a pull request to main, or \`gitops rollback --stack ${stack.name} --to previous\``;
  }
  return outcomes;
}

/**
 * Where the gate of `name` (stage `stage`, upstream opened as `upstream`) stands at `head`, without
 * running any check: the candidate, its soak, the upstream's verdict. `program` and `all` are as
 * for affectedStacks.
 */
export async function gateState(
  ctx: Context,
  name: string,
  stage: Stage & { from: string },
  upstream: Stack,
  head: string | undefined,
  all: string[],
  program: ReadonlySet<string>,
): Promise<Gate> {
  const from = stage.from;
  const base = { stack: name, from, open: false };
  const rec = await readRecord(upstream);
  if (!rec.commit) return { ...base, reason: `${from} has not been deployed yet` };
  const { verified } = await readPromotionRecords(upstream);
  let candidate = rec.commit;
  // A newer commit that changes nothing for the upstream is, for it, the same as what it runs.
  if (
    head &&
    head !== rec.commit &&
    (await git.resolveCommit(ctx.repo, rec.commit)) &&
    (await git.isAncestor(ctx.repo, rec.commit, head))
  ) {
    const changed = affectedStacks(await git.changedPaths(ctx.repo, rec.commit, head), all, ctx.rules, program);
    if (!changed.stacks.includes(from)) candidate = head;
  }
  const gate: Gate = { ...base, candidate, verified, reason: "" };
  if (!verified || verified.commit !== rec.commit)
    return {
      ...gate,
      reason: `${from} runs ${short(rec.commit)}${rec.pin ? " (pinned by a rollback)" : ""}, which no update there has verified yet`,
    };
  if (verified.result === "failed") return { ...gate, reason: `${from}'s check failed on ${short(rec.commit)}: ${verified.failure}` };
  const soakUntil = new Date(Date.parse(verified.since) + durationMs(stage.soak ?? "0")!);
  gate.soakUntil = soakUntil.toISOString();
  if (ctx.now() < soakUntil) return { ...gate, reason: `soaking in ${from} until ${gate.soakUntil}` };
  return { ...gate, open: true, reason: `${from} verified ${short(rec.commit)}${stage.soak ? ` and ran it for ${stage.soak}` : ""}` };
}

/**
 * Runs the upstream's checks again right before a promotion (the soak is over): a failing one
 * closes the gate, and says which and what it saw.
 */
export async function recheckGate(ctx: Context, gate: Gate, upstream: Stack, signal?: AbortSignal): Promise<Gate> {
  const checks = stageOf(ctx, gate.from)?.checks ?? [];
  if (!gate.open || !checks.length) return { ...gate, checks: [] };
  const outcomes = await runChecks(checks, {
    stack: gate.from,
    commit: gate.verified!.commit,
    dir: ctx.repo,
    outputs: await upstream.outputs(),
    log: ctx.log.child(gate.from),
    signal,
  });
  const failed = outcomes.find((o) => !o.passed);
  if (failed) return { ...gate, open: false, checks: outcomes, reason: `${gate.from}'s check ${failed.name} fails now: ${failed.detail}` };
  return { ...gate, checks: outcomes, reason: `${gate.reason}; its checks pass now (${outcomes.map((o) => o.name).join(", ")})` };
}

/** The result of a stack that waits at its gate: not a failure, and it says why and until when. */
export function waiting(gate: Gate): StackResult {
  return {
    stack: gate.stack,
    operation: "update",
    commit: gate.candidate,
    status: "waiting",
    reason: `waiting for ${gate.candidate ? short(gate.candidate) : "a commit"} at its gate: ${gate.reason}`,
    gate,
    counts: emptyCounts(),
    changes: [],
    diagnostics: [],
    durationMs: 0,
  };
}

export interface PromoteOptions extends DeployOptions {
  /** Who or what promotes, recorded (see {@link actor}). */
  by: string;
  /** The command recorded on the stack and in the update's message. */
  command: string;
  /** The gate was overridden, for this reason (recorded). */
  override?: string;
}

/**
 * After a successful update: the stack's checks, and when one fails and the stage says
 * `onFailure: rollback`, a rollback to the commit it ran before, pinned. `result` says what happened.
 */
export async function verifyAndRecover(
  ctx: Context,
  stack: Stack,
  commit: string,
  dir: string,
  result: StackResult,
  opts: DeployOptions,
): Promise<void> {
  const outcomes = await verifyUpdate(ctx, stack, commit, dir, result, opts.signal);
  if (!outcomes.some((o) => !o.passed) || stageOf(ctx, stack.name)?.onFailure !== "rollback") return;
  let to: string;
  try {
    to = await previousCommit(stack, commit);
  } catch (err) {
    if (!(err instanceof GitopsError)) throw err;
    result.error += `; onFailure: rollback found nothing to roll back to (${err.message})`;
    return;
  }
  ctx.log.warn(`${stack.name}: a check failed after the update: rolling back to ${short(to)} (onFailure: rollback)`);
  const back = (await rollBackTo(ctx, stack.name, to, opts)).results[0];
  if (back?.status === "succeeded") {
    result.rolledBackTo = to;
    result.error += `; rolled back to ${short(to)} and pinned (onFailure: rollback)`;
    result.hint = `fix it through a pull request to main, then \`gitops unpin --stack ${stack.name}\` lets apply deploy main again`;
  } else result.error += `; the rollback to ${short(to)} failed too: ${back?.error ?? "not run"}`;
}

/**
 * Deploys `commit` to the gated stack `name` (opened on the checkout at `head` as `stack`), from a
 * temporary checkout when it is not `head`; records the promotion, then verifies the stack as
 * after any update. The result carries the gate.
 */
export async function promoteTo(
  ctx: Context,
  stack: Stack,
  head: string,
  commit: string,
  gate: Gate,
  opts: PromoteOptions,
): Promise<DeployOutcome> {
  const name = stack.name;
  const note = `promoted from ${gate.from}${opts.override ? ` by override (${opts.override})` : ""}`;
  const subject = `${note}: ${(await git.commitSubject(ctx.repo, commit)) ?? ""}`;
  const run = async (target: Stack, dir: string): Promise<DeployOutcome> => {
    const out = await deploy(ctx, commit, opts.command, [target], opts, subject);
    const r = out.results[0];
    if (!r) return out;
    r.gate = gate;
    if (r.status !== "succeeded") return out;
    r.promotion = {
      commit,
      from: gate.from,
      time: ctx.now().toISOString(),
      by: opts.by,
      passed: (gate.checks ?? []).filter((c) => c.passed).map((c) => c.name),
      ...(opts.override ? { override: opts.override } : {}),
    };
    await recordPromotion(target, r.promotion);
    r.reason = `${note}: ${gate.reason}`;
    await verifyAndRecover(ctx, target, commit, dir, r, opts);
    return out;
  };
  if (commit === head) return run(stack, ctx.repo);
  return withCheckout(ctx, commit, async (c) => {
    checkStackFiles(c.dir, [name]);
    return run(openStack(ctx.engine, c.dir, name, true), c.dir);
  });
}
