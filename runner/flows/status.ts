/** What each stack runs: its recorded commit, pin, distance from main, last result; and its history. */
import type { Context } from "../services/context";
import { affectedStacks, programFiles } from "../services/changes";
import { findStack, openStack } from "../services/workspace";
import * as git from "../services/git";
import { readRecord } from "../services/records";
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
}

export async function status(ctx: Context, only?: string[]): Promise<StackStatus[]> {
  const all = discoverStacks(ctx.repo, ctx.rules);
  const tip = await git.mainTip(ctx.repo, ctx.rules);
  const program = tip ? await programFiles(ctx.repo, tip) : new Set<string>();
  const out: StackStatus[] = [];
  for (const name of selectStacks(all, only)) {
    const stack = await findStack(ctx.engine, ctx.repo, name);
    if (!stack) {
      out.push({ stack: name, deployed: false });
      continue;
    }
    const rec = await readRecord(stack);
    const s: StackStatus = {
      stack: name,
      deployed: rec.commit !== undefined,
      commit: rec.commit,
      time: rec.time,
      command: rec.command,
      result: rec.result,
      attempted: rec.commit,
      pin: rec.pin,
    };
    // A failed attempt leaves the record on the commit that runs; the update's history names its own.
    if (rec.result === "failed")
      s.attempted = (await stack.history(10, 1, false)).find((h) => h.kind === "update")?.environment?.["git.head"];
    if (rec.commit && (await git.resolveCommit(ctx.repo, rec.commit))) {
      s.subject = await git.commitSubject(ctx.repo, rec.commit);
      const by = await git.commitAuthor(ctx.repo, rec.commit);
      s.author = by?.author;
      s.authored = by?.date;
      if (tip && (await git.isAncestor(ctx.repo, rec.commit, tip))) {
        s.behind = await git.countCommits(ctx.repo, rec.commit, tip);
        s.inSync = !affectedStacks(await git.changedPaths(ctx.repo, rec.commit, tip), all, ctx.rules, program).stacks.includes(name);
      }
    }
    out.push(s);
  }
  return out;
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
  const notes = rows.flatMap((r) => attemptNote(r) ?? []);
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
  const stack = await openStack(ctx.engine, ctx.repo, name, false);
  // The file and S3 backends number no update (version 0 on every one): number them by position,
  // oldest first, as Pulumi Cloud does, from the whole history.
  const all = await stack.history(undefined, undefined, false);
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
