/**
 * What the runner records on each stack, as stack tags: the commit it runs, which command put it
 * there and when, the last result, and a pin. Tags live in the backend next to the state, so every
 * runner and the agent read the same record.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Deployment, Stack } from "@pulumi/pulumi/automation";

export const TAG = {
  commit: "gitops:commit",
  command: "gitops:command",
  time: "gitops:time",
  result: "gitops:result",
  pin: "gitops:pin",
  forced: "gitops:forced",
} as const;

export interface DeploymentRecord {
  /** The commit the stack's resources were last successfully deployed from. */
  commit?: string;
  command?: string;
  time?: string;
  result?: "succeeded" | "failed";
  /** A commit the stack is pinned to by a rollback; apply and the agent skip pinned stacks. */
  pin?: string;
}

export async function readRecord(stack: Stack): Promise<DeploymentRecord> {
  const tags = await stack.listTags();
  return {
    commit: tags[TAG.commit],
    command: tags[TAG.command],
    time: tags[TAG.time],
    result: tags[TAG.result] as DeploymentRecord["result"],
    pin: tags[TAG.pin],
  };
}

/** Records an operation's outcome. A failed one keeps the last good commit: that is what runs. */
export async function writeRecord(stack: Stack, command: string, commit: string, ok: boolean, now: Date): Promise<void> {
  if (ok) await stack.setTag(TAG.commit, commit);
  await stack.setTag(TAG.command, command);
  await stack.setTag(TAG.time, now.toISOString());
  await stack.setTag(TAG.result, ok ? "succeeded" : "failed");
}

export async function setPin(stack: Stack, commit: string | undefined): Promise<void> {
  if (commit) await stack.setTag(TAG.pin, commit);
  else if ((await stack.listTags())[TAG.pin] !== undefined) await stack.workspace.removeTag(stack.name, TAG.pin);
}

/**
 * Saves the stack's state before a change. `gitops restore --stack <s> --file <backup>` (or
 * `pulumi stack import --file <backup>`) puts it back.
 */
export async function backupState(stack: Stack, dir: string, commit: string, now: Date): Promise<{ file: string; state: Deployment }> {
  const file = path.join(dir, stack.name, `${now.toISOString().replace(/[:.]/g, "-")}-${commit.slice(0, 7)}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const state = await stack.exportStack();
  fs.writeFileSync(file, JSON.stringify(state, null, 2), { mode: 0o600 });
  return { file, state };
}

/**
 * Removes the pending operations an interrupted update left in `state` (export/import, the engine's
 * own means; a refresh cannot do it for render-mode stacks) and returns their URNs: a pending
 * create may have made a real resource that the next update makes again, so the user is told.
 */
export async function clearPendingOperations(stack: Stack, state: Deployment): Promise<string[]> {
  const pending: { resource: { urn: string }; type: string }[] = state.deployment?.pending_operations ?? [];
  if (!pending.length) return [];
  await stack.importStack({ ...state, deployment: { ...state.deployment, pending_operations: [] } });
  return pending.map((p) => `${p.type} ${p.resource.urn}`);
}
