/**
 * What was reviewed is what gets applied. A preview's fingerprint of a stack: every input file that
 * affects it (by the same rule that decides which stacks a change affects), the engine and its
 * plugins, the stack's state version and the planned changes. Previews of a pull request keep it
 * in the backend as a stack tag keyed by the inputs' digest, so the merged commit finds it whatever
 * the merge method, as long as its inputs are the reviewed ones; apply compares it with what it
 * would deploy now.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { UpdateSummary } from "@pulumi/pulumi/automation";
import { affectedStacks } from "./changes";
import type { StackResult } from "./workspace";
import { engineVersion, type EngineSettings, type Stack } from "./engine";
import * as git from "./git";
import type { Rules } from "./rules";

/** The stack's state as a count of its history (what `gitops history` numbers) and its last entry. */
export interface StateVersion {
  version: number;
  last?: { kind: string; result: string; time: string; message: string; commit?: string };
}

export interface PlannedChange {
  urn: string;
  op: string;
  /** The changed property paths, sorted. */
  paths: string[];
}

export interface Fingerprint {
  /** Names this fingerprint (`apply --accept <id>`): a digest of everything below but `commit` and `time`. */
  id: string;
  stack: string;
  /** The commit previewed (for people; the comparison never uses it). */
  commit: string;
  time: string;
  /** Digest of `inputs`: the key the record is found by. */
  inputsDigest: string;
  /** Every file that affects the stack -> its git blob id. */
  inputs: Record<string, string>;
  engine: { pulumi: string; plugins: string[] };
  state: StateVersion;
  changes: PlannedChange[];
}

/** A stack tag per reviewed preview: the prefix and 16 hex digits of the inputs' digest (tag names: 40 characters at most). */
const REVIEW_TAG = "gitops:review:";
/** The acceptance of a fingerprint that no pull request reviewed (`apply --accept`). */
export const ACCEPTED_TAG = "gitops:accepted";
/** Reviews kept per stack: the oldest go when a new one is recorded. */
const KEEP = 20;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * Whether apply deploys `stack` only as a reviewed preview showed it: the rule's list (`*` for
 * all), else every stack after the first in the apply order (`ordered`).
 */
export function reviewRequired(rules: Rules, ordered: string[], stack: string): boolean {
  const listed = rules.review.required;
  if (!listed) return stack !== ordered[0];
  return listed.includes("*") || listed.includes(stack);
}

/** The files of `commit` that affect `stack` (what a change to would make it previewed), with their blob ids. */
export async function stackInputs(
  repo: string,
  commit: string,
  stack: string,
  all: string[],
  rules: Rules,
  program: ReadonlySet<string>,
): Promise<Record<string, string>> {
  const blobs = await git.blobsAt(repo, commit);
  const affected = affectedStacks([...blobs.keys()], all, rules, program);
  const files = (affected.reasons[stack] ?? []).sort();
  return Object.fromEntries(files.map((f) => [f, blobs.get(f)!]));
}

const digestOf = (inputs: Record<string, string>) =>
  sha256(
    Object.entries(inputs)
      .map(([f, b]) => `${f}\0${b}\n`)
      .join(""),
  );

/** The engine's version and the plugins in its home (name and version in each directory's name). */
export async function engineVersions(engine: EngineSettings): Promise<Fingerprint["engine"]> {
  const dir = path.join(engine.pulumiHome, "plugins");
  // Only the installed plugins' directories: the engine's .lock, .partial and .lastused markers come
  // and go with use, and a runner that had not used a plugin yet would show another engine.
  const plugins = fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => !/\.(lock|partial|lastused)$/.test(d)) : [];
  return { pulumi: await engineVersion(engine), plugins: plugins.sort() };
}

/** The stack's history, newest first, and its state version. */
export async function stateVersion(stack: Stack): Promise<{ state: StateVersion; history: UpdateSummary[] }> {
  const history = await stack.history();
  const h = history[0];
  const last = h && {
    kind: h.kind,
    result: h.result,
    time: h.startTime.toISOString(),
    message: h.message,
    ...(h.environment?.["git.head"] ? { commit: h.environment["git.head"] } : {}),
  };
  return { state: { version: history.length, ...(last ? { last } : {}) }, history };
}

/** The planned change set of a preview: each resource's URN, operation and changed property paths. */
export function plannedChanges(result: StackResult): PlannedChange[] {
  return result.changes
    .map((c) => ({ urn: c.urn, op: c.op, paths: [...new Set(c.diffs.map((d) => d.path))].sort() }))
    .sort((a, b) => a.urn.localeCompare(b.urn));
}

export function makeFingerprint(f: Omit<Fingerprint, "id" | "inputsDigest">): Fingerprint {
  const inputsDigest = digestOf(f.inputs);
  const { version, last } = f.state;
  const id = sha256(
    JSON.stringify({ stack: f.stack, inputsDigest, engine: f.engine, state: { version, time: last?.time }, changes: f.changes }),
  ).slice(0, 16);
  return { id, ...f, inputsDigest };
}

const tagName = (inputsDigest: string) => REVIEW_TAG + inputsDigest.slice(0, 16);

/** The reviewed previews recorded on the stack, newest first. */
export function reviewsIn(tags: Record<string, string>): Fingerprint[] {
  return Object.entries(tags)
    .filter(([k]) => k.startsWith(REVIEW_TAG))
    .map(([, v]) => JSON.parse(v) as Fingerprint)
    .sort((a, b) => b.time.localeCompare(a.time));
}

/**
 * Records `f` as a reviewed preview of its stack, keeping the newest {@link KEEP}: `f` and the newest
 * of `before`, the stack's reviews as read while it was previewed (reviewsIn). One recorded meanwhile
 * by another preview stays until the next record.
 */
export async function recordReview(stack: Stack, f: Fingerprint, before: Fingerprint[]): Promise<void> {
  await stack.setTag(tagName(f.inputsDigest), JSON.stringify(f));
  const others = before.filter((r) => tagName(r.inputsDigest) !== tagName(f.inputsDigest));
  for (const old of others.slice(KEEP - 1)) await stack.removeTag(tagName(old.inputsDigest));
}

/** A review that apply deployed is used up: the next change of the stack needs its own. */
export async function consumeReview(stack: Stack, f: Fingerprint): Promise<void> {
  await stack.removeTag(tagName(f.inputsDigest));
}

/**
 * The reviewed preview of the change being deployed: the one with exactly these inputs, else the
 * one whose inputs differ from them in the fewest files (a pull request reviewed before another
 * one changed the stack), newest first among equals.
 */
export function findReview(reviews: Fingerprint[], now: Fingerprint): Fingerprint | undefined {
  const exact = reviews.find((r) => r.inputsDigest === now.inputsDigest);
  if (exact) return exact;
  let best: Fingerprint | undefined;
  let fewest = Infinity;
  for (const r of reviews) {
    const n = inputDifferences(r.inputs, now.inputs).length;
    if (n < fewest) [best, fewest] = [r, n];
  }
  return best;
}

export interface InputDifference {
  file: string;
  change: "changed" | "added" | "removed";
}

export function inputDifferences(reviewed: Record<string, string>, now: Record<string, string>): InputDifference[] {
  const files = [...new Set([...Object.keys(reviewed), ...Object.keys(now)])].sort();
  return files.flatMap((file): InputDifference[] => {
    if (reviewed[file] === now[file]) return [];
    return [{ file, change: reviewed[file] === undefined ? "added" : now[file] === undefined ? "removed" : "changed" }];
  });
}

/** What differs between a reviewed fingerprint and the one apply would deploy now, one line each. */
export function differences(reviewed: Fingerprint, now: Fingerprint, history: UpdateSummary[]): string[] {
  const lines: string[] = [];
  const inputs = inputDifferences(reviewed.inputs, now.inputs);
  if (inputs.length) lines.push(`input files differ: ${inputs.map((d) => `${d.file} (${d.change})`).join(", ")}`);
  const moved = stateMoved(reviewed.state, now.state, history);
  if (moved) lines.push(moved);
  if (JSON.stringify(reviewed.engine) !== JSON.stringify(now.engine))
    lines.push(
      `the engine differs: reviewed with pulumi ${reviewed.engine.pulumi} [${reviewed.engine.plugins.join(", ")}], now ${now.engine.pulumi} [${now.engine.plugins.join(", ")}]`,
    );
  const was2 = new Map(reviewed.changes.map((c) => [c.urn, c]));
  const is = new Map(now.changes.map((c) => [c.urn, c]));
  const show = (c: PlannedChange | undefined) => (c ? `${c.op}${c.paths.length ? ` [${c.paths.join(", ")}]` : ""}` : "no change");
  const resources = [...new Set([...was2.keys(), ...is.keys()])].sort().flatMap((urn) => {
    const [a, b] = [was2.get(urn), is.get(urn)];
    return JSON.stringify(a) === JSON.stringify(b) ? [] : [`${urn}: reviewed ${show(a)}, now ${show(b)}`];
  });
  if (resources.length) lines.push(`planned changes differ:\n      ${resources.join("\n      ")}`);
  return lines;
}

/** How the state moved from version `was` to `now` (`history` newest first), or undefined when it did not. */
export function stateMoved(was: StateVersion, now: StateVersion, history: UpdateSummary[]): string | undefined {
  if (was.version === now.version && was.last?.time === now.last?.time) return undefined;
  const by = history.slice(0, Math.max(1, now.version - was.version)).map(describeUpdate);
  return `the state moved since the review: version ${was.version} then, ${now.version} now, by ${by.join("; ")}`;
}

function describeUpdate(h: UpdateSummary): string {
  const commit = h.environment?.["git.head"];
  return `${h.kind} ${h.result} at ${h.startTime.toISOString()}${commit ? ` (commit ${commit.slice(0, 7)})` : ""}${h.message ? ` "${h.message}"` : ""}`;
}
