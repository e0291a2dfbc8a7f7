/** Markdown (for a pull-request comment) and JSON renderings of per-stack results. */
import type { ResourceChange, StackResult } from "./engine";
import { hasChanges } from "./engine";

export interface ReportContext {
  title: string;
  /** The commit the results are for. */
  commit?: string;
  /** Where the full JSON result is written, named when the Markdown has to be cut. */
  jsonFile?: string;
  /** Stacks that nothing in the change affects, listed so a reviewer sees they were considered. */
  unaffected?: string[];
}

/** GitHub caps a comment at 65,536 characters; stay well below it. */
export const DEFAULT_MAX_CHARS = 60_000;

const SYMBOL: Record<string, string> = { create: "+", update: "~", replace: "+-", delete: "-", refresh: "~", import: "=", discard: "-" };

function cell(v: unknown): string {
  if (v === undefined) return "";
  const s = typeof v === "string" ? v : JSON.stringify(v);
  const short = s.length > 120 ? s.slice(0, 117) + "..." : s;
  return "`" + short.replace(/`/g, "'").replace(/\|/g, "\\|").replace(/\n/g, " ") + "`";
}

function resourceBlock(c: ResourceChange): string {
  const head = `<details><summary><code>${SYMBOL[c.op] ?? c.op} ${c.op}</code> ${c.type} <b>${c.name}</b></summary>\n\n`;
  if (!c.diffs.length) return head + "_no property details_\n\n</details>\n";
  const rows = c.diffs.map((d) => `| ${d.path} | ${d.kind} | ${cell(d.before)} | ${cell(d.after)} |`);
  return head + "| property | change | before | after |\n|---|---|---|---|\n" + rows.join("\n") + "\n\n</details>\n";
}

function resultLabel(r: StackResult): string {
  if (r.status === "failed") return "❌ failed";
  if (r.status === "skipped") return `⏭ skipped${r.reason ? ": " + r.reason : ""}`;
  if (r.operation === "drift") return hasChanges(r) ? "drift" : "no drift";
  return hasChanges(r) ? "changes" : "no changes";
}

/**
 * The summary table first, then per stack its changed resources folded in <details>, with warnings
 * and errors. When the text would pass `maxChars`, whole resource blocks are left out and counted.
 */
export function renderMarkdown(results: StackResult[], ctx: ReportContext, maxChars = DEFAULT_MAX_CHARS): string {
  const head: string[] = [`## ${ctx.title}${ctx.commit ? ` at \`${ctx.commit.slice(0, 7)}\`` : ""}`, ""];
  head.push("| stack | create | update | replace | delete | unchanged | result |", "|---|---:|---:|---:|---:|---:|---|");
  for (const r of results) {
    const n = r.counts;
    head.push(`| ${r.stack} | ${n.create} | ${n.update} | ${n.replace} | ${n.delete} | ${n.same} | ${resultLabel(r)} |`);
  }
  if (ctx.unaffected?.length) head.push("", `Not affected by this change, not previewed: ${ctx.unaffected.join(", ")}.`);
  head.push("");

  const sections: { text: string; blocks: string[] }[] = results.map((r) => {
    const lines = [`### ${r.stack}`, ""];
    if (r.reason && r.status !== "skipped") lines.push(`_${r.reason}_`, "");
    if (r.error) lines.push("**Error**", "", "```", r.error, "```", "");
    const warnings = r.diagnostics.filter((d) => d.severity === "warning");
    if (warnings.length) lines.push("**Warnings**", "", ...warnings.map((w) => `- ${w.resource ? w.resource + ": " : ""}${w.message.replace(/\n/g, " ")}`), "");
    if (r.status === "succeeded" && !hasChanges(r)) lines.push(r.operation === "drift" ? "No drift." : "No changes.", "");
    return { text: lines.join("\n"), blocks: r.changes.map(resourceBlock) };
  });

  const footerFor = (omitted: number) =>
    omitted ? `\n> ${omitted} more change${omitted > 1 ? "s" : ""} not shown (report size limit). The full result is in ${ctx.jsonFile ? "`" + ctx.jsonFile + "`" : "the JSON output (`--json`)"}.\n` : "";
  let out = head.join("\n");
  let omitted = 0;
  const budget = maxChars - footerFor(99999).length;
  for (const s of sections) {
    out += "\n" + s.text;
    for (const b of s.blocks) {
      if (omitted || out.length + b.length > budget) omitted++;
      else out += b;
    }
  }
  return out + footerFor(omitted);
}

/** The machine-readable form: everything, untruncated. */
export function renderJson(results: StackResult[], ctx: ReportContext): string {
  return JSON.stringify({ title: ctx.title, commit: ctx.commit, unaffected: ctx.unaffected ?? [], stacks: results }, null, 2);
}

/** One line per stack for the terminal. */
export function summaryLine(r: StackResult): string {
  const n = r.counts;
  const done = r.operation === "update" || r.operation === "refresh";
  const verb = (n: number, future: string, past: string) => n && `${n} ${done ? past : "to " + future}`;
  const changed = [verb(n.create, "create", "created"), verb(n.update, "update", "updated"), verb(n.replace, "replace", "replaced"), verb(n.delete, "delete", "deleted")].filter(Boolean);
  const none = r.operation === "drift" ? "no drift" : "no changes";
  const parts = r.operation === "drift" && changed.length ? [`drift in ${r.changes.length} resource(s)`] : changed;
  const what = r.status === "failed" ? `failed: ${r.error?.split("\n")[0] ?? "see above"}` : r.status === "skipped" ? `skipped: ${r.reason}` : parts.length ? parts.join(", ") : none;
  return `${r.stack}: ${what} (${(r.durationMs / 1000).toFixed(1)}s)`;
}
