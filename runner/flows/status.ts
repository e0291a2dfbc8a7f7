/** What each stack runs: its recorded commit, pin, distance from main, last result; and its history. */
import type { Context } from "../services/context";
import { affectedStacks, programFiles } from "../services/changes";
import { listStacks, openStack } from "../services/engine";
import { pool } from "../services/pool";
import * as git from "../services/git";
import { readTagsOf, recordOf } from "../services/records";
import { gateState, promotionRecordsOf, stageOf, type Gate, type Promotion, type Verification } from "../services/promotion";
import { discoverStacks, selectStacks } from "../services/stacks";

export interface StackStatus {
  stack: string;
  deployed: boolean;
  /** The commit the stack runs: the last one deployed successfully. */
  commit?: string;
  subject?: string;
  /** The deployed commit's author and author date. */
  author?: string;
  authored?: string;
  /** When and by which command the last attempt ran, and its result. */
  time?: string;
  command?: string;
  result?: string;
  /** The commit of the last attempt; differs from `commit` when it failed. */
  attempted?: string;
  pin?: string;
  /** Commits on the protected branch since the deployed commit (undefined when unknown). */
  behind?: number;
  /** Whether any of those commits affects the stack. */
  inSync?: boolean;
  /** A gated stack's gate (stacks/gitops.yaml `stages`): the candidate, its soak, the upstream's verdict; no check is run for it. */
  gate?: Gate;
  /** The last promotion to the stack. */
  promoted?: Promotion;
  /** What the stack's checks said after its last update (stacks that have checks or are promoted from). */
  verified?: Verification;
}

/** How many stacks' records, and commits' facts, a status reads at once. */
const READS = 4;

/** What git says about a deployed commit: the same for every stack that runs it, so asked once per commit. */
interface CommitFacts {
  subject?: string;
  author?: string;
  authored?: string;
  /** Commits on the protected branch since this one, when the branch contains it. */
  behind?: number;
  /** The stacks those commits affect. */
  affects?: Set<string>;
}

export async function status(ctx: Context, only?: string[]): Promise<StackStatus[]> {
  const all = discoverStacks(ctx.repo, ctx.rules);
  const names = selectStacks(all, only);
  // The program's files at the tip are read while the engine lists the stacks.
  const tipRead = git.mainTip(ctx.repo, ctx.rules);
  const [tip, existing, program] = await Promise.all([
    tipRead,
    listStacks(ctx.engine, ctx.repo),
    tipRead.then((t) => (t ? programFiles(ctx.repo, t) : new Set<string>())),
  ]);
  const facts = new Map<string, Promise<CommitFacts | undefined>>();
  const factsOf = (commit: string) => {
    if (!facts.has(commit)) facts.set(commit, commitFacts(ctx, commit, tip, all, program));
    return facts.get(commit)!;
  };
  return pool(names, READS, async (name): Promise<StackStatus> => {
    const gate = await gateOf(ctx, name, tip, all, program, existing);
    if (!existing.has(name)) return { stack: name, deployed: false, gate };
    // One tag listing holds the stack's deployment record and its promotion records.
    const tags = await readTagsOf(ctx.engine, ctx.repo, name);
    const rec = recordOf(tags);
    const { promoted, verified } = promotionRecordsOf(tags);
    const s: StackStatus = {
      stack: name,
      deployed: rec.commit !== undefined,
      commit: rec.commit,
      time: rec.time,
      command: rec.command,
      result: rec.result,
      // A failed attempt leaves the record on the commit that runs, and names its own.
      attempted: rec.result === "failed" ? rec.attempted : rec.commit,
      pin: rec.pin,
      gate,
      promoted,
      verified,
    };
    const f = rec.commit ? await factsOf(rec.commit) : undefined;
    if (f) {
      s.subject = f.subject;
      s.author = f.author;
      s.authored = f.authored;
      s.behind = f.behind;
      s.inSync = f.affects && !f.affects.has(name);
    }
    return s;
  });
}

/** The gate of `name` when it has one (no check is run for it). */
async function gateOf(
  ctx: Context,
  name: string,
  tip: string | undefined,
  all: string[],
  program: ReadonlySet<string>,
  existing: ReadonlySet<string>,
): Promise<Gate | undefined> {
  const stage = stageOf(ctx, name);
  if (stage?.from === undefined) return undefined;
  const from = stage.from;
  if (!existing.has(from)) return { stack: name, from, open: false, reason: `${from} has not been deployed yet` };
  return gateState(ctx, name, { ...stage, from }, openStack(ctx.engine, ctx.repo, from, false), tip, all, program);
}

async function commitFacts(
  ctx: Context,
  commit: string,
  tip: string | undefined,
  all: string[],
  program: Set<string>,
): Promise<CommitFacts | undefined> {
  if (!(await git.resolveCommit(ctx.repo, commit))) return undefined;
  const [subject, by, contained] = await Promise.all([
    git.commitSubject(ctx.repo, commit),
    git.commitAuthor(ctx.repo, commit),
    tip ? git.isAncestor(ctx.repo, commit, tip) : false,
  ]);
  const f: CommitFacts = { subject, author: by?.author, authored: by?.date };
  if (tip && contained) {
    const [behind, changed] = await Promise.all([git.countCommits(ctx.repo, commit, tip), git.changedPaths(ctx.repo, commit, tip)]);
    f.behind = behind;
    f.affects = new Set(affectedStacks(changed, all, ctx.rules, program).stacks);
  }
  return f;
}

const short = (commit: string | undefined) => commit?.slice(0, 7) ?? "?";

/** What the last attempt did, when it is not simply what runs: said in words, under the table. */
function attemptNote(r: StackStatus): string | undefined {
  if (r.result !== "failed") return undefined;
  const what = `${r.stack}: the last attempt (${r.command ?? "update"} of ${short(r.attempted)}, ${r.time?.replace("T", " ").slice(0, 16) ?? "?"}) failed`;
  if (!r.commit) return `${what}; it was never deployed successfully`;
  const next = r.pin
    ? `, pinned: apply leaves it alone until \`gitops unpin --stack ${r.stack}\``
    : r.inSync === true
      ? `, which is what main declares for it: apply has nothing to do`
      : r.inSync === false
        ? `; main changed it since, and the next apply deploys main to it`
        : "";
  return `${what}; it still runs ${short(r.commit)}${next}`;
}

/** A gated stack's gate, said in words under the table: what waits there, until when, and why. */
function gateNote(r: StackStatus): string | undefined {
  const g = r.gate;
  if (!g) return undefined;
  if (g.candidate && g.candidate === r.commit) return `${r.stack}: runs ${short(g.candidate)}, what ${g.from} verified${promotedBy(r)}`;
  if (!g.candidate) return `${r.stack}: nothing to promote from ${g.from}: ${g.reason}`;
  const checks = g.verified ? `; ${g.from}'s checks ${g.verified.result} after its update` : "";
  return g.open
    ? `${r.stack}: ${short(g.candidate)} is ready at its gate (${g.reason}${checks}); the next apply checks ${g.from} again and promotes it`
    : `${r.stack}: ${short(g.candidate)} waits at its gate: ${g.reason}${checks}`;
}

const promotedBy = (r: StackStatus) =>
  r.promoted && r.promoted.commit === r.commit ? `; promoted ${r.promoted.time.replace("T", " ").slice(0, 16)} by ${r.promoted.by}` : "";

/**
 * One row per stack: the commit it runs, how far main is ahead and whether that matters to it, the
 * pin, and the last attempt (which may have failed while an older commit keeps running).
 */
export function renderStatusTable(rows: StackStatus[]): string {
  const header = ["STACK", "RUNS", "SUBJECT", "BEHIND", "SYNC", "PIN", "LAST ATTEMPT"];
  const body = rows.map((r) => [
    r.stack,
    r.commit?.slice(0, 7) ?? "-",
    (r.subject ?? (r.deployed ? "(commit not in this clone)" : "not deployed")).slice(0, 40),
    r.behind === undefined ? "?" : String(r.behind),
    r.pin ? "pinned" : r.inSync === undefined ? "?" : r.inSync ? "in-sync" : "out-of-sync",
    r.pin?.slice(0, 7) ?? "-",
    r.result
      ? `${r.result} ${r.command ?? ""} ${short(r.attempted)} ${r.time?.replace("T", " ").slice(0, 16) ?? ""}`.replace(/\s+/g, " ")
      : "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const table = [header, ...body].map((cols) =>
    cols
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd(),
  );
  const notes = rows.flatMap((r) => [attemptNote(r), gateNote(r)].filter((n): n is string => n !== undefined));
  return [...table, ...(notes.length ? ["", ...notes] : [])].join("\n");
}

export interface HistoryEntry {
  version?: number;
  kind: string;
  result: string;
  started: string;
  message: string;
  commit?: string;
  changes: Record<string, number>;
}

export async function history(ctx: Context, name: string, limit: number): Promise<HistoryEntry[]> {
  selectStacks(discoverStacks(ctx.repo, ctx.rules), [name]);
  const stack = openStack(ctx.engine, ctx.repo, name, false);
  // The file and S3 backends number no update (version 0 on every one): number them by position,
  // oldest first, as Pulumi Cloud does, from the whole history.
  const all = await stack.history();
  return all.slice(0, limit).map((h, i) => ({
    version: (h as { version?: number }).version || all.length - i,
    kind: h.kind,
    result: h.result,
    started: h.startTime.toISOString(),
    message: h.message,
    commit: h.environment?.["git.head"],
    changes: (h.resourceChanges ?? {}) as Record<string, number>,
  }));
}

export function renderHistoryTable(rows: HistoryEntry[]): string {
  if (!rows.length) return "no updates yet";
  return rows
    .map((h) => {
      const changes =
        Object.entries(h.changes)
          .filter(([k, v]) => v && k !== "same")
          .map(([k, v]) => `${k} ${v}`)
          .join(", ") || "no changes";
      return `${String(h.version ?? "").padStart(3)}  ${h.started.replace("T", " ").slice(0, 19)}  ${h.kind.padEnd(7)} ${h.result.padEnd(10)} ${h.commit?.slice(0, 7) ?? "-------"}  ${changes}  ${h.message}`;
    })
    .join("\n");
}
