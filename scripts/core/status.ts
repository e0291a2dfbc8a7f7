/** What each stack runs: its recorded commit, pin, distance from main, last result; and its history. */
import type { Context } from "./context";
import { affectedStacks } from "./changes";
import { findStack, openStack } from "./engine";
import * as git from "./git";
import { readRecord } from "./record";
import { discoverStacks, selectStacks } from "./stacks";

export interface StackStatus {
  stack: string;
  deployed: boolean;
  commit?: string;
  subject?: string;
  time?: string;
  command?: string;
  result?: string;
  pin?: string;
  /** Commits on the protected branch since the deployed commit (undefined when unknown). */
  behind?: number;
  /** Whether any of those commits affects the stack. */
  inSync?: boolean;
}

/** The protected branch's tip as this checkout knows it: the remote's when there is one. */
export async function mainTip(ctx: Context): Promise<string | undefined> {
  const { remote, protectedBranch } = ctx.rules;
  return (await git.resolveCommit(ctx.repo, `refs/remotes/${remote}/${protectedBranch}`)) ?? (await git.resolveCommit(ctx.repo, protectedBranch));
}

export async function status(ctx: Context, only?: string[]): Promise<StackStatus[]> {
  const all = discoverStacks(ctx.repo, ctx.rules);
  const tip = await mainTip(ctx);
  const out: StackStatus[] = [];
  for (const name of selectStacks(all, only)) {
    const stack = await findStack(ctx.engine, ctx.repo, name);
    if (!stack) {
      out.push({ stack: name, deployed: false });
      continue;
    }
    const rec = await readRecord(stack);
    const s: StackStatus = { stack: name, deployed: rec.commit !== undefined, commit: rec.commit, time: rec.time, command: rec.command, result: rec.result, pin: rec.pin };
    if (rec.commit && (await git.resolveCommit(ctx.repo, rec.commit))) {
      s.subject = await git.commitSubject(ctx.repo, rec.commit);
      if (tip && (await git.isAncestor(ctx.repo, rec.commit, tip))) {
        s.behind = await git.countCommits(ctx.repo, rec.commit, tip);
        s.inSync = !affectedStacks(await git.changedPaths(ctx.repo, rec.commit, tip), all, ctx.rules).stacks.includes(name);
      }
    }
    out.push(s);
  }
  return out;
}

export function renderStatusTable(rows: StackStatus[]): string {
  const header = ["STACK", "COMMIT", "SUBJECT", "WHEN", "BY", "BEHIND", "SYNC", "PIN", "LAST"];
  const body = rows.map((r) => [
    r.stack,
    r.commit?.slice(0, 7) ?? "-",
    (r.subject ?? (r.deployed ? "(commit not in this clone)" : "not deployed")).slice(0, 40),
    r.time?.replace("T", " ").slice(0, 16) ?? "-",
    r.command ?? "-",
    r.behind === undefined ? "?" : String(r.behind),
    r.pin ? "pinned" : r.inSync === undefined ? "?" : r.inSync ? "in-sync" : "out-of-sync",
    r.pin?.slice(0, 7) ?? "-",
    r.result ?? "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [header, ...body].map((cols) => cols.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
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
  const entries = await stack.history(limit, 1);
  return entries.map((h) => ({
    version: (h as { version?: number }).version,
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
      const changes = Object.entries(h.changes).filter(([k, v]) => v && k !== "same").map(([k, v]) => `${k} ${v}`).join(", ") || "no changes";
      return `${String(h.version ?? "").padStart(3)}  ${h.started.replace("T", " ").slice(0, 19)}  ${h.kind.padEnd(7)} ${h.result.padEnd(10)} ${h.commit?.slice(0, 7) ?? "-------"}  ${changes}  ${h.message}`;
    })
    .join("\n");
}
