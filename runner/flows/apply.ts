/**
 * The apply flow: the deploy guards, then a plan from each stack's record (pinned, in sync,
 * unaffected, or due), and the due stacks through the deploy pipeline in environment order.
 */
import type { Stack } from "@pulumi/pulumi/automation";
import type { Context } from "../services/context";
import { affectedStacks, programFiles } from "../services/changes";
import { deploy, guardDeploy, skipped, type DeployOutcome } from "../services/deploy";
import { openStack } from "../services/workspace";
import { stopIfAborted } from "../errors";
import * as git from "../services/git";
import { readRecord } from "../services/records";
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
  const subject = (await git.commitSubject(ctx.repo, head)) ?? "";
  const { results: deployed, refusal } = await deploy(
    ctx,
    head,
    "apply",
    due.map((p) => opened.get(p.stack)!),
    opts,
    subject,
  );
  const byName = new Map(deployed.map((r) => [r.stack, r]));
  const results = plans.map((p) => byName.get(p.stack) ?? skipped(p.stack, head, p.skip!));
  for (const r of results) if (r.status !== "skipped" && !r.reason) r.reason = plans.find((p) => p.stack === r.stack)?.deploy;
  return { commit: head, results, refusal };
}
