/** Writing results where the user asked: files for reports, stdout for JSON with '-'. */
import * as fs from "node:fs";
import type { StackResult } from "../services/workspace";
import { renderJson, renderMarkdown, type ReportContext } from "../services/report";

export function writeOutputs(results: StackResult[], ctx: ReportContext, o: { json?: string; report?: string }): void {
  const jsonFile = o.json && o.json !== "-" ? o.json : undefined;
  if (o.report) fs.writeFileSync(o.report, renderMarkdown(results, { ...ctx, jsonFile }));
  if (o.json === "-") process.stdout.write(renderJson(results, ctx) + "\n");
  else if (jsonFile) fs.writeFileSync(jsonFile, renderJson(results, ctx));
}

const indent = (text: string) => text.replace(/\n/g, "\n  ");

/**
 * Each failed stack as the CLI prints any error: `error:` with its whole reason (the summary line
 * shows only the first), then `hint:`, the runner's own when it knows one, else `hint`'s.
 */
export function printFailures(results: StackResult[], hint: (stack: string) => string): void {
  for (const r of results) {
    if (r.status !== "failed") continue;
    process.stderr.write(`error: ${r.stack}: ${indent(r.error ?? "failed")}\nhint: ${r.hint ?? hint(r.stack)}\n`);
  }
}
