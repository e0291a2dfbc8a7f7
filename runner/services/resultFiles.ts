/**
 * Reading back the JSON results that `gitops preview --json` writes (renderJson), for `gitops report`:
 * per-stack previews run in separate CI jobs are merged into one result, as one preview of all of
 * them would have given. Every problem with the files is reported at once, naming the file and key.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { FromSchema } from "json-schema-to-ts";
import { ajv, schemaProblem, type ConfigProblem } from "../../config/load";
import { ConfigFileError } from "../errors";
import { emptyCounts, type StackResult } from "./workspace";

const text = { type: "string" } as const;
const count = { type: "integer", minimum: 0 } as const;

/** What merging needs of a preview result file; anything else a stack carries is kept as it is. */
const resultFileSchema = {
  type: "object",
  required: ["commit", "stacks"],
  properties: {
    title: text,
    commit: { type: "string", pattern: "^[0-9a-f]{40}$" },
    unaffected: { type: "array", items: text },
    stacks: {
      type: "array",
      items: {
        type: "object",
        required: ["stack", "operation", "status", "counts", "changes", "diagnostics", "durationMs"],
        properties: {
          stack: text,
          // Only previews merge into a pull request's comment.
          operation: { enum: ["preview"] },
          status: { enum: ["succeeded", "failed", "skipped"] },
          counts: {
            type: "object",
            required: ["create", "update", "replace", "delete", "same"],
            properties: { create: count, update: count, replace: count, delete: count, same: count },
          },
          changes: {
            type: "array",
            items: {
              type: "object",
              required: ["urn", "type", "name", "op", "diffs"],
              properties: {
                urn: text,
                type: text,
                name: text,
                op: text,
                diffs: { type: "array", items: { type: "object", required: ["path", "kind"], properties: { path: text, kind: text } } },
              },
            },
          },
          diagnostics: {
            type: "array",
            items: { type: "object", required: ["severity", "message"], properties: { severity: text, message: text, resource: text } },
          },
          error: text,
          hint: text,
          reason: text,
          durationMs: { type: "number", minimum: 0 },
        },
      },
    },
  },
} as const;

type ResultFile = FromSchema<typeof resultFileSchema>;
// The schema and StackResult describe the same file: this fails to compile when they part.
type SchemaStack = ResultFile["stacks"][number];
const sameShape: (s: SchemaStack) => Pick<StackResult, "stack" | "status" | "counts" | "diagnostics" | "durationMs"> = (s) => s;
void sameShape;

const validate = ajv.compile(resultFileSchema);

export interface MergedResults {
  /** The commit the previews ran on; undefined when there was no file. */
  commit?: string;
  results: StackResult[];
}

/** The JSON files at `paths`: each a file, or a directory searched for *.json (a CI job's downloaded artifacts). */
function resultFilesAt(paths: string[], problems: ConfigProblem[]): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".json")) files.push(p);
    }
  };
  for (const p of paths) {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st) problems.push({ file: p, key: "(file)", message: "not found" });
    else if (st.isDirectory()) walk(p);
    else files.push(p);
  }
  return files;
}

/**
 * Reads and merges the preview results at `paths`. A stack may appear once, and every file must be
 * of the same commit: results of another push would describe code the pull request no longer has.
 */
export function readResultFiles(paths: string[]): MergedResults {
  const problems: ConfigProblem[] = [];
  const results: StackResult[] = [];
  const seenIn = new Map<string, string>();
  let commit: { sha: string; file: string } | undefined;
  for (const file of resultFilesAt(paths, problems)) {
    let data: unknown;
    try {
      data = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
      problems.push({ file, key: "(json)", message: e instanceof SyntaxError ? e.message : `cannot read it (${String(e)})` });
      continue;
    }
    if (!validate(data)) {
      problems.push(...(validate.errors ?? []).map((e) => schemaProblem(file, e)));
      continue;
    }
    if (commit && data.commit !== commit.sha) {
      problems.push({ file, key: "commit", message: `is ${data.commit.slice(0, 7)}, but ${commit.file} is of ${commit.sha.slice(0, 7)}` });
      continue;
    }
    commit ??= { sha: data.commit, file };
    for (const [i, s] of data.stacks.entries()) {
      const other = seenIn.get(s.stack);
      if (other) problems.push({ file, key: `stacks[${i}].stack`, message: `'${s.stack}' is also in ${other}` });
      seenIn.set(s.stack, file);
      results.push(s as StackResult);
    }
  }
  if (problems.length)
    throw new ConfigFileError(
      "cannot merge these preview results",
      problems,
      "give the files that `gitops preview --json <file>` wrote for one commit, one stack each (or one directory holding them)",
    );
  return { commit: commit?.sha, results };
}

/**
 * Orders merged results as `expected` lists them (the affected stacks the pipeline's matrix ran) and
 * adds each expected stack without a result as failed: a job that died before writing its file must
 * not let the pull request's check pass.
 */
export function expectResults(merged: MergedResults, expected: string[]): StackResult[] {
  const byStack = new Map(merged.results.map((r) => [r.stack, r]));
  const missing = (stack: string): StackResult => ({
    stack,
    operation: "preview",
    commit: merged.commit,
    status: "failed",
    counts: emptyCounts(),
    changes: [],
    diagnostics: [],
    error: "no preview result: the job that previews this stack wrote no result file",
    hint: "see that job's log, fix what stopped it, and run the pipeline again",
    durationMs: 0,
  });
  const extra = merged.results.filter((r) => !expected.includes(r.stack));
  return [...expected.map((s) => byStack.get(s) ?? missing(s)), ...extra];
}
