/**
 * What rollback shares with the rollback a failed check triggers (stages' `onFailure: rollback`):
 * the commit a stack ran before, and deploying an older commit from a temporary checkout, pinned.
 */
import type { Context } from "./context";
import { withCheckout } from "./checkout";
import { deploy, type DeployOutcome } from "./deploy";
import * as git from "./git";
import { setPin } from "./records";
import { checkStackFiles } from "./stacks";
import { openStack, type Stack } from "./engine";
import { GitopsError } from "../errors";

/** The commit the stack ran before `current`, from its update history. */
export async function previousCommit(stack: Stack, current: string | undefined): Promise<string> {
  const name = stack.name;
  // Without secrets: decrypting the config would rewrite the tracked stack file.
  const updates = await stack.history();
  for (const u of updates) {
    const commit = u.environment?.["git.head"];
    if (u.kind === "update" && u.result === "succeeded" && commit && commit !== current) return commit;
  }
  throw new GitopsError(
    `stack ${name} has no earlier successful update to roll back to`,
    "name the commit with --to <rev>; `gitops history --stack " + name + "` lists what ran",
  );
}

/**
 * Deploys the older `commit` to stack `name` from a temporary checkout, recorded as a rollback,
 * and pins the stack to it when that succeeds: apply and the agent leave it until `gitops unpin`.
 */
export async function rollBackTo(
  ctx: Context,
  name: string,
  commit: string,
  o: { lockTimeout: number; signal?: AbortSignal },
): Promise<DeployOutcome> {
  const subject = (await git.commitSubject(ctx.repo, commit)) ?? "";
  return withCheckout(ctx, commit, async (checkout) => {
    checkStackFiles(checkout.dir, [name]);
    const stack = openStack(ctx.engine, checkout.dir, name, false);
    const out = await deploy(ctx, commit, "rollback", [stack], { lockTimeout: o.lockTimeout, older: true, signal: o.signal }, subject);
    if (out.results[0]?.status === "succeeded") await setPin(stack, commit);
    return out;
  });
}
