/**
 * What the runner records on each stack, as stack tags: the commit it runs, which command put it
 * there and when, and the last result (one tag, written at once), and a pin. Tags live in the
 * backend next to the state, so every runner and the agent read the same record.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Deployment } from "@pulumi/pulumi/automation";
import { CliError, engineError } from "./engineErrors";
import { guardPassphrase, openStack, withPrivateDir, type EngineSettings, type Stack } from "./engine";
import { GitopsError } from "../errors";

export const TAG = {
  /** The last operation's {@link Outcome}, as JSON: the engine writes one tag per process. */
  record: "gitops:record",
  pin: "gitops:pin",
  forced: "gitops:forced",
  /** Pending operations an interrupted update left and the runner dropped: resources to check by hand. */
  pendingCleared: "gitops:pending-cleared",
} as const;

/** What the last operation on a stack left: the commit that runs, and which command did what when. */
interface Outcome {
  /** The commit the stack's resources were last successfully deployed from. */
  commit?: string;
  /** The commit a failed operation tried to deploy (`result: failed`). */
  attempted?: string;
  command?: string;
  time?: string;
  result?: "succeeded" | "failed";
}

/** The tags that held the outcome before it was one tag; stacks last deployed then still have them. */
const EARLIER = { commit: "gitops:commit", command: "gitops:command", time: "gitops:time", result: "gitops:result" } as const;

export interface DeploymentRecord extends Outcome {
  /** A commit the stack is pinned to by a rollback; apply and the agent skip pinned stacks. */
  pin?: string;
  /** Pending operations dropped after an interrupted update (when, and `<type> <urn>` each). */
  pendingCleared?: string;
}

export async function readRecord(stack: Stack): Promise<DeploymentRecord> {
  return recordOf(await stack.listTags());
}

/**
 * The tags of stack `name`: one `pulumi stack tag ls`. Every record kept in tags (this file's,
 * promotion's) is read from them.
 */
export function readTagsOf(s: EngineSettings, workDir: string, name: string): Promise<Record<string, string>> {
  return openStack(s, workDir, name, false).listTags();
}

function outcomeOf(tags: Record<string, string>): Outcome {
  const text = tags[TAG.record];
  if (text === undefined) return Object.fromEntries(Object.entries(EARLIER).map(([k, tag]) => [k, tags[tag]]));
  try {
    const o = JSON.parse(text) as Outcome;
    return { commit: o.commit, attempted: o.attempted, command: o.command, time: o.time, result: o.result };
  } catch {
    // A hand-edited tag: as if never recorded, so the next apply deploys the stack in full.
    return {};
  }
}

export function recordOf(tags: Record<string, string>): DeploymentRecord {
  return { ...outcomeOf(tags), pin: tags[TAG.pin], pendingCleared: tags[TAG.pendingCleared] };
}

/**
 * Records an operation's outcome, in one engine call when it succeeded. A failed one keeps the last
 * good commit, read first: that is what runs.
 */
export async function writeRecord(stack: Stack, command: string, commit: string, ok: boolean, now: Date): Promise<void> {
  const time = now.toISOString();
  if (ok) await setOutcome(stack, { commit, command, time, result: "succeeded" });
  else await setOutcome(stack, { commit: outcomeOf(await stack.listTags()).commit, attempted: commit, command, time, result: "failed" });
}

/** Records a restore of a state whose commit is unknown: the next apply deploys the stack in full. */
export async function writeRestoreRecord(stack: Stack, now: Date): Promise<void> {
  const { result } = outcomeOf(await stack.listTags());
  await setOutcome(stack, { command: "restore", time: now.toISOString(), result });
}

function setOutcome(stack: Stack, o: Outcome): Promise<void> {
  return stack.setTag(TAG.record, JSON.stringify(o));
}

export async function setPin(stack: Stack, commit: string | undefined): Promise<void> {
  if (commit) await stack.setTag(TAG.pin, commit);
  else if ((await stack.listTags())[TAG.pin] !== undefined) await stack.removeTag(TAG.pin);
}

/** The record a backup keeps beside the state: `pulumi stack import` ignores it, `gitops restore` puts it back. */
export interface BackupRecord {
  stack: string;
  /** The commit the saved state was deployed from; absent when gitops never deployed the stack. */
  commit?: string;
  time: string;
}

/** A stack's state that the engine cannot read back: a truncated or failed write (a full disk). */
export class UnreadableStateError extends GitopsError {
  constructor(
    readonly stack: string,
    detail: string,
    backupDir: string,
  ) {
    super(
      `the state of stack ${stack} cannot be read: ${detail}`,
      `nothing was changed. Free the disk if it is full, then \`gitops restore --stack ${stack}\` imports its newest backup from ${path.join(backupDir, stack)} (or --file <backup>); the next apply then deploys what changed since the backup's commit`,
    );
  }
}

/**
 * The stack's state as the backend holds it, secrets encrypted (never `--show-secrets`). A state
 * the engine cannot export, or that is not a complete deployment, is an UnreadableStateError.
 */
export async function exportState(stack: Stack, backupDir: string): Promise<Deployment> {
  let text: string;
  try {
    text = await stack.cli(["stack", "export"]);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    const mapped = engineError(err, stack.name);
    if (mapped instanceof GitopsError) throw mapped;
    throw new UnreadableStateError(stack.name, err.stderr.trim().replace(/^error: /, ""), backupDir);
  }
  let state: Deployment;
  try {
    state = JSON.parse(text);
  } catch (err) {
    throw new UnreadableStateError(stack.name, `the export is not valid JSON (${(err as Error).message})`, backupDir);
  }
  if (!state || typeof state.deployment !== "object" || typeof state.version !== "number")
    throw new UnreadableStateError(stack.name, "the export is not a deployment", backupDir);
  return state;
}

/** Makes `dir` (and the directories above it up to `root`) private to this user. */
function privateDir(root: string, dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (let d = dir; ; d = path.dirname(d)) {
    fs.chmodSync(d, 0o700);
    if (d === root || path.dirname(d) === d) break;
  }
}

/** Writes `text` to `file` (0600) through a temporary file and a rename: a failed write leaves no partial file. */
function writePrivateFile(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, text, { mode: 0o600, flag: "wx" });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Saves the stack's state before a change, secrets encrypted as in the backend, in a directory only
 * this user can read. `gitops restore --stack <s> [--file <backup>]` puts it back.
 */
export async function backupState(
  stack: Stack,
  dir: string,
  commit: string,
  now: Date,
  // The commit the state was deployed from, read beside the export: by default, from the record.
  deployedFrom: Promise<string | undefined> = readRecord(stack).then((r) => r.commit),
): Promise<{ file: string; state: Deployment }> {
  // The export's error comes first, as it says what is wrong with the state.
  deployedFrom.catch(() => undefined);
  const state = await exportState(stack, dir);
  const record: BackupRecord = { stack: stack.name, commit: await deployedFrom, time: now.toISOString() };
  const file = path.join(dir, stack.name, `${now.toISOString().replace(/[:.]/g, "-")}-${commit.slice(0, 7)}.json`);
  try {
    privateDir(dir, path.dirname(file));
    writePrivateFile(file, JSON.stringify({ ...state, gitops: record }, null, 2));
  } catch (err) {
    throw new GitopsError(
      `cannot save the state backup of stack ${stack.name} to ${file}: ${(err as Error).message}`,
      "nothing was deployed; free space or fix the permissions of the backup directory (GITOPS_BACKUP_DIR), then run again",
    );
  }
  return { file, state };
}

/**
 * Replaces the stack's state by `state` through the engine (`pulumi stack import`, which takes the
 * stack's lock). The file it reads is private to this user and removed however the import ends.
 */
export async function importState(stack: Stack, state: Deployment): Promise<void> {
  guardPassphrase(stack.env, stack.workDir, stack.name);
  await withPrivateDir(async (dir) => {
    const file = path.join(dir, "state.json");
    fs.writeFileSync(file, JSON.stringify(state), { mode: 0o600 });
    try {
      await stack.cli(["stack", "import", "--file", file]);
    } catch (err) {
      throw engineError(err, stack.name);
    }
  });
}

/**
 * Removes the pending operations an interrupted update left in `state` (export/import, the engine's
 * own means; a refresh cannot do it for render-mode stacks) and returns them as `<type> <urn>`: a
 * pending create may have made a real resource that the next update makes again, so the caller
 * reports them and `notePendingCleared` records them on the stack.
 */
export async function clearPendingOperations(stack: Stack, state: Deployment): Promise<string[]> {
  const pending: { resource: { urn: string }; type: string }[] = state.deployment?.pending_operations ?? [];
  if (!pending.length) return [];
  await importState(stack, { ...state, deployment: { ...state.deployment, pending_operations: [] } });
  return pending.map((p) => `${p.type} ${p.resource.urn}`);
}

/** Tag values stay short enough for every backend (the Pulumi Cloud takes 256 characters). */
const MAX_TAG = 256;

/** Records dropped pending operations on the stack, where status and a later look find them. */
export async function notePendingCleared(stack: Stack, cleared: string[], now: Date): Promise<void> {
  const text = `${now.toISOString()}: ${cleared.join("; ")}`;
  await stack.setTag(TAG.pendingCleared, text.length > MAX_TAG ? text.slice(0, MAX_TAG - 1) + "…" : text);
}
