/**
 * Promote: deploys to a gated stack (stacks/gitops.yaml `stages.<stack>.from`) the commit its gate
 * offers, or the one named, now. The gate still applies (soak over, the upstream's checks passing
 * again right now) unless overridden with a reason, which is recorded with the promotion.
 */
import type { Context } from "../services/context";
import { programFiles } from "../services/changes";
import { guardDeploy, skipped, type DeployOutcome } from "../services/deploy";
import * as git from "../services/git";
import { actor, checkStages, gateState, promoteTo, recheckGate, stageOf, type Gate } from "../services/promotion";
import { readRecord } from "../services/records";
import { checkStackFiles, discoverStacks, selectStacks } from "../services/stacks";
import { findStack, openStack } from "../services/engine";
import { refused, stopIfAborted, usageError } from "../errors";

export interface PromoteOptions {
  stack: string;
  /** A commit, tag or HEAD~n; default: the gate's candidate. */
  to?: string;
  /** Promote although the gate is closed, for this reason (recorded on the stack). */
  override?: string;
  lockTimeout: number;
  signal?: AbortSignal;
}

export interface PromoteOutcome extends DeployOutcome {
  commit?: string;
  gate: Gate;
}

const short = (c: string) => c.slice(0, 7);

export async function promote(ctx: Context, o: PromoteOptions): Promise<PromoteOutcome> {
  await guardDeploy(ctx, "promote");
  const head = await git.headCommit(ctx.repo);
  const all = discoverStacks(ctx.repo, ctx.rules);
  checkStages(ctx, all);
  const [name] = selectStacks(all, [o.stack]);
  const from = stageOf(ctx, name)?.from;
  if (from === undefined)
    throw usageError(
      `${name} is not promoted from another stack`,
      `declare it in stacks/gitops.yaml, e.g. \`stages: { ${name}: { from: <stack>, soak: 30m } }\`; \`gitops apply\` deploys stacks without a gate`,
    );
  checkStackFiles(ctx.repo, [name]);
  const program = await programFiles(ctx.repo, head);
  const stack = openStack(ctx.engine, ctx.repo, name, true);
  const upstream = await findStack(ctx.engine, ctx.repo, from);
  let gate: Gate = upstream
    ? await gateState(ctx, name, { ...stageOf(ctx, name), from }, upstream, head, all, program)
    : { stack: name, from, open: false, reason: `${from} has not been deployed yet` };
  const target = o.to ? await git.requireCommit(ctx.repo, o.to, "promotion target") : gate.candidate;
  if (!target)
    throw refused(
      `nothing to promote to ${name}: ${gate.reason}`,
      `deploy ${from} first; or name a commit with --to and --override "<reason>"`,
    );
  if (!(await git.isAncestor(ctx.repo, target, head)))
    throw refused(
      `commit ${short(target)} is not on ${ctx.rules.protectedBranch}`,
      `only what ${ctx.rules.protectedBranch} contains is promoted; merge it first`,
    );
  const rec = await readRecord(stack);
  if (rec.pin)
    throw refused(
      `${name} is pinned to ${short(rec.pin)} by a rollback`,
      `\`gitops unpin --stack ${name}\` first: a promotion would deploy over the pin`,
    );
  if (rec.commit === target) return { commit: target, gate, results: [skipped(name, target, `it runs ${short(target)} already`)] };
  if (target !== gate.candidate)
    gate = {
      ...gate,
      open: false,
      reason: `${short(target)} is not what the gate offers (${gate.candidate ? `${short(gate.candidate)}, what ${from} runs` : gate.reason})`,
    };
  stopIfAborted(o.signal, `before ${name}'s gate was checked`);
  if (gate.open) gate = await recheckGate(ctx, gate, upstream!, o.signal);
  if (!gate.open && !o.override)
    throw refused(
      `${name}'s gate is closed for ${short(target)}: ${gate.reason}`,
      `\`gitops status\` shows the gate; wait for it to open, or pass --override "<reason>" to promote anyway (the reason is recorded on ${name})`,
    );
  if (!gate.open) ctx.log.warn(`${name}: the gate is closed (${gate.reason}); promoting anyway: ${o.override}`);
  const out = await promoteTo(ctx, stack, head, target, gate, {
    lockTimeout: o.lockTimeout,
    signal: o.signal,
    command: "promote",
    by: actor("promote"),
    override: gate.open ? undefined : o.override,
  });
  return { ...out, commit: target, gate };
}
