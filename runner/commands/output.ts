/** Writing results where the user asked: files for reports, stdout for JSON with '-'. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { StackResult } from "../services/workspace";
import { usageError } from "../errors";
import { renderJson, renderMarkdown, type ReportContext } from "../services/report";

/**
 * Refuses an output file that cannot be written, before any work: a report that fails to be written
 * after an apply would turn the pipeline red after the infrastructure changed.
 */
export function checkOutputPath(option: string, file: string | undefined): void {
  if (file === undefined || (option === "json" && file === "-")) return;
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const isDir = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory();
  if (!isDir(dir))
    throw usageError(
      `--${option} ${file}: the directory ${dir} does not exist`,
      `create it first (mkdir -p ${dir}), or write the ${option} file elsewhere`,
    );
  if (isDir(target))
    throw usageError(
      `--${option} ${file} is a directory`,
      `name a file, e.g. --${option} ${path.join(file, option === "json" ? "result.json" : "report.md")}`,
    );
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw usageError(
      `--${option} ${file}: the directory ${dir} is not writable`,
      `write the ${option} file to a directory you can write to`,
    );
  }
}

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
