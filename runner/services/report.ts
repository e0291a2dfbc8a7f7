/** Markdown (for a pull-request comment) and JSON renderings of per-stack results. */
import type { PolicyViolation, ResourceChange, StackResult } from "./workspace";
import { hasChanges, mandatoryViolations } from "./workspace";

export interface ReportContext {
  title: string;
  /** The commit the results are for. */
  commit?: string;
  /** Where the full JSON result is written, named when the Markdown has to be cut. */
  jsonFile?: string;
  /** Stacks that nothing in the change affects, listed so a reviewer sees they were considered. */
  unaffected?: string[];
  /** A link to the full report (a CI job's artifact), given instead of jsonFile when the Markdown is cut. */
  fullReportUrl?: string;
}

/** GitHub caps a comment at 65,536 characters; stay well below it. */
export const DEFAULT_MAX_CHARS = 60_000;

const SYMBOL: Record<string, string> = { create: "+", update: "~", replace: "+-", delete: "-", refresh: "~", import: "=", discard: "-" };

const ENTITY: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text placed inside HTML (the folded resource headers): it cannot open a tag or an entity. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITY[c]);
}

/**
 * Engine text placed in Markdown prose or a table cell: one line, no HTML, no links, emphasis or
 * cell breaks of its own. Resource names, messages and paths come from programs and servers.
 */
export function inline(s: string): string {
  return escapeHtml(s.replace(/\r?\n/g, " ")).replace(/[\\`*_[\]|~]/g, (c) => "\\" + c);
}

/** A code fence longer than any run of backticks in `text`, so the text cannot close it. */
export function fence(text: string): string {
  const longest = [...text.matchAll(/`+/g)].reduce((n, m) => Math.max(n, m[0].length), 0);
  return "`".repeat(Math.max(3, longest + 1));
}

function cell(v: unknown): string {
  if (v === undefined) return "";
  const s = typeof v === "string" ? v : JSON.stringify(v);
  const short = s.length > 120 ? s.slice(0, 117) + "..." : s;
  return "`" + short.replace(/`/g, "'").replace(/\|/g, "\\|").replace(/\n/g, " ") + "`";
}

function resourceBlock(c: ResourceChange): string {
  const head = `<details><summary><code>${SYMBOL[c.op] ?? escapeHtml(c.op)} ${escapeHtml(c.op)}</code> ${escapeHtml(c.type)} <b>${escapeHtml(c.name)}</b></summary>\n\n`;
  if (!c.diffs.length) return head + "_no property details_\n\n</details>\n";
  const rows = c.diffs.map((d) => `| ${inline(d.path)} | ${inline(d.kind)} | ${cell(d.before)} | ${cell(d.after)} |`);
  return head + "| property | change | before | after |\n|---|---|---|---|\n" + rows.join("\n") + "\n\n</details>\n";
}

/** A policy finding as a list item: the policy, the resource it is about, what is wrong. */
function policyItem(v: PolicyViolation): string {
  const where = v.resource ? ` on ${inline(v.type ?? "")} **${inline(v.resource)}**` : " on the stack";
  return `- ${v.level === "mandatory" ? "❌" : "⚠️"} \`${inline(v.policy)}\` (${v.level})${where}: ${inline(v.message)}\n`;
}

function resultLabel(r: StackResult): string {
  if (r.status === "failed") return "❌ failed";
  if (r.status === "skipped") return `⏭ skipped${r.reason ? ": " + inline(r.reason) : ""}`;
  if (r.status === "waiting") return `⏸ ${inline(r.reason ?? "waiting at its gate")}`;
  if (r.operation === "drift") return hasChanges(r) ? "drift" : "no drift";
  return hasChanges(r) ? "changes" : "no changes";
}

/** What the size limit left out, counted per kind, for the footer that says so. */
interface Omitted {
  changes: number;
  rows: number;
  stacks: number;
  warnings: number;
  unaffected: number;
  errorChars: number;
}

const plural = (n: number, one: string, many = one + "s") => `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;

function omissionFooter(o: Omitted, maxChars: number, ctx: ReportContext): string {
  const parts = [
    o.changes && `${plural(o.changes, "more change")} not shown`,
    o.rows && `${plural(o.rows, "stack")} left out of the table`,
    o.stacks && `the details of ${plural(o.stacks, "stack")}`,
    o.warnings && plural(o.warnings, "warning"),
    o.unaffected && plural(o.unaffected, "unaffected stack name"),
    o.errorChars && `${plural(o.errorChars, "character")} of error text`,
  ].filter(Boolean);
  if (!parts.length) return "";
  const where = ctx.fullReportUrl
    ? `the [full report](${ctx.fullReportUrl.replace(/[()\s]/g, (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0"))})`
    : ctx.jsonFile
      ? "`" + inline(ctx.jsonFile) + "`"
      : "the JSON output (`--json`)";
  return `\n> Report size limit (${maxChars.toLocaleString("en-US")} characters): ${parts.join("; ")}. The full result is in ${where}.\n`;
}

/** Appends while the text fits; after the first piece that does not, nothing more (the rest is counted). */
class Budget {
  text = "";
  full = false;
  constructor(private readonly limit: number) {}
  get left(): number {
    return this.full ? 0 : this.limit - this.text.length;
  }
  add(piece: string): boolean {
    if (this.full || this.text.length + piece.length > this.limit) this.full = true;
    else this.text += piece;
    return !this.full;
  }
}

/**
 * The summary table first, then per stack its error, warnings and changed resources folded in
 * <details>. The whole text stays within `maxChars`: what does not fit (table rows past half of it,
 * long error text, whole blocks) is left out and counted in a last line that says where the rest is.
 */
export function renderMarkdown(results: StackResult[], ctx: ReportContext, maxChars = DEFAULT_MAX_CHARS): string {
  const o: Omitted = { changes: 0, rows: 0, stacks: 0, warnings: 0, unaffected: 0, errorChars: 0 };
  const worst = omissionFooter({ changes: 1e9, rows: 1e9, stacks: 1e9, warnings: 1e9, unaffected: 1e9, errorChars: 1e9 }, maxChars, ctx);
  const b = new Budget(maxChars - worst.length);
  b.add(`## ${inline(ctx.title)}${ctx.commit ? ` at \`${ctx.commit.slice(0, 7)}\`` : ""}\n\n`);
  b.add("| stack | create | update | replace | delete | unchanged | result |\n|---|---:|---:|---:|---:|---:|---|\n");
  // The table may take half the budget: the details of the first stacks matter more than the rest's rows.
  const tableEnd = (maxChars - worst.length) / 2;
  for (const r of results) {
    const n = r.counts;
    const row = `| ${inline(r.stack)} | ${n.create} | ${n.update} | ${n.replace} | ${n.delete} | ${n.same} | ${resultLabel(r)} |\n`;
    if (o.rows || b.text.length + row.length > tableEnd) o.rows++;
    else b.add(row);
  }
  if (ctx.unaffected?.length) {
    let names = "";
    for (const [i, s] of ctx.unaffected.entries()) {
      if (names.length + s.length > 2000) {
        o.unaffected = ctx.unaffected.length - i;
        break;
      }
      names += (i ? ", " : "") + inline(s);
    }
    b.add(`\nNot affected by this change, not previewed: ${names}${o.unaffected ? ` and ${o.unaffected} more` : ""}.\n`);
  }

  for (const r of results) {
    const warnings = r.diagnostics.filter((d) => d.severity === "warning");
    const mandatory = mandatoryViolations(r);
    const advisory = (r.policies ?? []).filter((v) => v.level === "advisory");
    if (!b.add(`\n### ${inline(r.stack)}\n\n`)) {
      o.stacks++;
      o.changes += r.changes.length;
      continue;
    }
    if (r.reason && r.status !== "skipped" && r.status !== "waiting") b.add(`_${inline(r.reason)}_\n\n`);
    if (r.error) {
      const f = fence(r.error);
      const room = Math.min(b.left - 2 * f.length - 200, maxChars / 4);
      const shown = r.error.length <= room ? r.error : r.error.slice(0, Math.max(0, room));
      o.errorChars += r.error.length - shown.length;
      const more = shown.length < r.error.length ? `\n[${r.error.length - shown.length} more characters]` : "";
      b.add(`**Error**\n\n${f}\n${shown}${more}\n${f}\n\n`);
      if (r.hint) b.add(`${inline(r.hint)}\n\n`);
    }
    if (mandatory.length && b.add("**Policy violations** (mandatory: this change cannot be applied)\n\n")) {
      for (const v of mandatory) if (!b.add(policyItem(v))) o.warnings++;
      b.add("\n");
    } else o.warnings += mandatory.length;
    if (advisory.length && b.add("**Policy warnings** (advisory)\n\n")) {
      for (const v of advisory) if (!b.add(policyItem(v))) o.warnings++;
      b.add("\n");
    } else o.warnings += advisory.length;
    if (warnings.length && b.add("**Warnings**\n\n")) {
      for (const w of warnings) if (!b.add(`- ${inline((w.resource ? w.resource + ": " : "") + w.message)}\n`)) o.warnings++;
      b.add("\n");
    } else o.warnings += warnings.length;
    if (r.status === "succeeded" && !hasChanges(r)) b.add(r.operation === "drift" ? "No drift.\n" : "No changes.\n");
    for (const c of r.changes) if (!b.add(resourceBlock(c))) o.changes++;
  }
  return b.text + omissionFooter(o, maxChars, ctx);
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
  const changed = [
    verb(n.create, "create", "created"),
    verb(n.update, "update", "updated"),
    verb(n.replace, "replace", "replaced"),
    verb(n.delete, "delete", "deleted"),
  ].filter(Boolean);
  const none = r.operation === "drift" ? "no drift" : "no changes";
  const parts = r.operation === "drift" && changed.length ? [`drift in ${r.changes.length} resource(s)`] : changed;
  const what =
    r.status === "failed"
      ? `failed: ${r.error?.split("\n")[0] ?? "see above"}`
      : r.status === "skipped"
        ? `skipped: ${r.reason}`
        : r.status === "waiting"
          ? (r.reason ?? "waiting at its gate")
          : parts.length
            ? parts.join(", ")
            : none;
  return `${r.stack}: ${what} (${(r.durationMs / 1000).toFixed(1)}s)`;
}
