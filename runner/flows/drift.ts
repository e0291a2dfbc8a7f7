/**
 * Drift: whether what runs still matches what the stack last deployed. Detection is a preview-only
 * refresh per stack and changes nothing. Remediation (opt-in) refreshes the state to reality and
 * deploys the stack's recorded commit again, with apply's guards, from a temporary checkout of that
 * commit when HEAD is elsewhere.
 */
import { withCheckout } from "../services/checkout";
import type { Context } from "../services/context";
import { deploy, guardDeploy } from "../services/deploy";
import { hasChanges, runOperation, skippedResult, type StackResult } from "../services/workspace";
import { findStack, openStack, type Stack } from "../services/engine";
import { stopIfAborted } from "../errors";
import * as git from "../services/git";
import { backupState, exportState, readRecord, writeRecord } from "../services/records";
import { checkStackFiles, discoverStacks, selectStacks } from "../services/stacks";

export interface DriftOptions {
  stacks?: string[];
  /** Bring drifted stacks back to their recorded commit (a refresh, then an update). */
  remediate?: boolean;
  /** As for apply: no engine call starts once aborted; `cancel` (default `signal`) stops the running one. */
  signal?: AbortSignal;
  cancel?: AbortSignal;
}

export interface DriftOutcome {
  /** HEAD of the checkout the runner works on. */
  commit: string;
  results: StackResult[];
}

const skippedDrift = (stack: string, reason: string, commit?: string): StackResult => skippedResult(stack, "drift", reason, commit);

/**
 * The directory a stack's Kubernetes provider renders manifests to instead of talking to a
 * cluster, if it does. Rendered files are written, never read back, so there is no live state to
 * refresh: the provider fails such a refresh with "unreachable cluster".
 */
async function renderDirectory(stack: Stack, backupDir: string): Promise<string | undefined> {
  const state = await exportState(stack, backupDir);
  const resources = (state.deployment as { resources?: { type: string; inputs?: Record<string, unknown> }[] }).resources ?? [];
  const dir = resources.find((r) => r.type === "pulumi:providers:kubernetes" && r.inputs?.renderYamlToDirectory)?.inputs
    ?.renderYamlToDirectory;
  return typeof dir === "string" ? dir : undefined;
}

/** "greeting (content), web (gone)": what drifted, for logs and the result's reason. */
export function driftSummary(r: StackResult): string {
  return r.changes.map((c) => `${c.name} (${c.op === "delete" ? "gone" : c.diffs.map((d) => d.path).join(", ") || "changed"})`).join(", ");
}

/**
 * Backs the state up, refreshes it to what really runs, then deploys `commit` again. The backup comes
 * before the refresh because the refresh overwrites the last deployed state with the drifted one.
 */
async function remediate(
  ctx: Context,
  name: string,
  commit: string,
  head: string,
  detected: StackResult,
  { signal, cancel }: DriftOptions,
): Promise<StackResult> {
  const log = ctx.log.child(name);
  const subject = (await git.commitSubject(ctx.repo, commit)) ?? "";
  const run = async (workDir: string): Promise<StackResult> => {
    checkStackFiles(workDir, [name]);
    // The workspace runs the program of `workDir`; the engine's root (GITOPS_ROOT) stays the primary checkout.
    const stack = openStack(ctx.engine, workDir, name, false);
    stopIfAborted(signal, `before ${name} was remediated`);
    await backupState(stack, ctx.backupDir, commit, ctx.now());
    stopIfAborted(signal, `before ${name} was remediated`);
    log.info(`remediate: refresh, then deploy ${commit.slice(0, 7)} again`);
    const refreshed = await runOperation(stack, "refresh", {
      log,
      commit,
      message: `gitops remediate ${commit.slice(0, 7)}: refresh`,
      signal: cancel ?? signal,
    });
    if (refreshed.status === "failed") {
      await writeRecord(stack, "remediate", commit, false, ctx.now());
      return { ...refreshed, reason: `drifted: ${driftSummary(detected)}; the refresh failed, nothing was redeployed` };
    }
    const { results, refusal } = await deploy(ctx, commit, "remediate", [stack], { lockTimeout: 0, signal, cancel }, subject);
    if (refusal) throw refusal;
    return { ...results[0], reason: `drifted: ${driftSummary(detected)}; redeployed ${commit.slice(0, 7)}` };
  };
  if (commit === head) return run(ctx.repo);
  log.info(`${commit.slice(0, 7)} is not HEAD: remediating from a temporary checkout of it`);
  return withCheckout(ctx, commit, (c) => run(c.dir));
}

export async function drift(ctx: Context, o: DriftOptions): Promise<DriftOutcome> {
  if (o.remediate) await guardDeploy(ctx, "drift --remediate");
  const head = await git.headCommit(ctx.repo);
  const results: StackResult[] = [];
  for (const name of selectStacks(discoverStacks(ctx.repo, ctx.rules), o.stacks)) {
    const log = ctx.log.child(name);
    stopIfAborted(o.signal, `before ${name} was checked`);
    const stack = await findStack(ctx.engine, ctx.repo, name);
    if (!stack) {
      results.push(skippedDrift(name, "never deployed: there is nothing to compare with"));
      continue;
    }
    // After a rollback the pin and the commit are the same; after `apply --force` over a pin, the
    // recorded commit is what runs, so that is what remediation restores.
    const { commit } = await readRecord(stack);
    if (!commit) {
      results.push(skippedDrift(name, "never deployed by gitops: there is no recorded commit to compare with"));
      continue;
    }
    const rendered = await renderDirectory(stack, ctx.backupDir);
    if (rendered) {
      results.push(
        skippedDrift(
          name,
          `its Kubernetes provider renders manifests to ${rendered} instead of talking to a cluster; rendered manifests are never read back, so drift cannot be checked (use a cluster target)`,
          commit,
        ),
      );
      continue;
    }
    stopIfAborted(o.signal, `before ${name} was checked`);
    const detected = await runOperation(stack, "drift", { log, commit, signal: o.cancel ?? o.signal });
    if (!o.remediate || detected.status !== "succeeded" || !hasChanges(detected)) {
      if (hasChanges(detected)) detected.reason = `drifted from ${commit.slice(0, 7)}: ${driftSummary(detected)}`;
      results.push(detected);
      continue;
    }
    // Stacks are remediated independently: one failing leaves the others' drift as worth fixing.
    results.push(await remediate(ctx, name, commit, head, detected, o));
  }
  return { commit: head, results };
}
