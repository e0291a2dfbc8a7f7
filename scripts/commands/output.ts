/** Writing results where the user asked: files for reports, stdout for JSON with '-'. */
import * as fs from "node:fs";
import type { StackResult } from "../core/engine";
import { renderJson, renderMarkdown, type ReportContext } from "../core/report";

export function writeOutputs(results: StackResult[], ctx: ReportContext, o: { json?: string; report?: string }): void {
  const jsonFile = o.json && o.json !== "-" ? o.json : undefined;
  if (o.report) fs.writeFileSync(o.report, renderMarkdown(results, { ...ctx, jsonFile }));
  if (o.json === "-") process.stdout.write(renderJson(results, ctx) + "\n");
  else if (jsonFile) fs.writeFileSync(jsonFile, renderJson(results, ctx));
}
