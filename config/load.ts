/**
 * The one way this repository's YAML files are read and checked (stack files and the runner's
 * rules): parsed with `yaml`, validated by ajv against a JSON schema with every error at once, and
 * each problem reported as `file[:line:col]: key: message`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv, { type ErrorObject } from "ajv";
import { parseDocument } from "yaml";

/** One thing wrong with a file. */
export interface ConfigProblem {
  /** The file as shown to the user, e.g. `stacks/Pulumi.staging.yaml`. */
  file: string;
  /** Key, e.g. `pulumi-gitops:app.replicas`; `(file)` / `(yaml)` for whole-file problems. */
  key: string;
  message: string;
  /** Where in the file, for syntax errors (1-based). */
  position?: { line: number; col: number };
}

/** One problem as a line: `file: key: message`, or `file:line:col: key: message` when the place is known. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}${p.position ? `:${p.position.line}:${p.position.col}` : ""}: ${p.key}: ${p.message}`;
}

export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map(formatProblem).join("\n");
}

/** The validator of every schema here: all errors at once, and a schema mistake is an error. */
export const ajv = new Ajv({ allErrors: true, strict: true });

/**
 * Reads `file` (relative to `repoDir`) as a YAML mapping; an empty file is an empty mapping. A
 * missing file is a problem (`<what> not found`) unless `optional`, when `root` is undefined.
 */
export function readYamlMapping(
  repoDir: string,
  file: string,
  o: { what: string; optional?: boolean },
): { root?: Record<string, unknown>; problems: ConfigProblem[] } {
  let text: string;
  try {
    text = fs.readFileSync(path.join(repoDir, file), "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && o.optional) return { problems: [] };
    const message = code === "ENOENT" ? `${o.what} not found` : `cannot read ${o.what} (${code ?? String(err)})`;
    return { problems: [{ file, key: "(file)", message }] };
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => ({
      file,
      key: "(yaml)",
      // The first line, without the position it repeats (given as line:col beside the file).
      message: e.message.split("\n")[0].replace(/ at line \d+, column \d+:$/, ""),
      ...(e.linePos ? { position: e.linePos[0] } : {}),
    }));
    return { problems };
  }
  const root = doc.toJS() as unknown;
  if (root === null) return { root: {}, problems: [] };
  if (typeof root !== "object" || Array.isArray(root)) return { problems: [{ file, key: "(yaml)", message: "must be a mapping" }] };
  return { root: root as Record<string, unknown>, problems: [] };
}

/** `/pulumi-gitops:app/resources/0/cpu` -> `pulumi-gitops:app.resources[0].cpu` */
export function pointerToKey(pointer: string): string {
  const parts = pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  let key = "";
  for (const part of parts) {
    if (/^[0-9]+$/.test(part) && key !== "") key += `[${part}]`;
    else key += key === "" ? part : `.${part}`;
  }
  return key;
}

const child = (parent: string, name: string) => (parent === "" ? name : `${parent}.${name}`);

/**
 * One ajv error as a problem at its key. `unknownTopKey` words an unknown key at the top level,
 * where a file may want to say where that setting belongs instead.
 */
export function schemaProblem(
  file: string,
  e: ErrorObject,
  unknownTopKey: (name: string) => string = () => "is not a known setting",
): ConfigProblem {
  const at = pointerToKey(e.instancePath);
  switch (e.keyword) {
    case "required":
      return { file, key: child(at, String(e.params.missingProperty)), message: "is required" };
    case "additionalProperties": {
      const name = String(e.params.additionalProperty);
      return { file, key: child(at, name), message: at === "" ? unknownTopKey(name) : "is not a known setting" };
    }
    case "enum":
      return { file, key: at, message: `must be one of: ${(e.params.allowedValues as unknown[]).join(", ")}` };
    case "anyOf":
      return { file, key: at, message: "must be a string, or a secret (`secure: ...`, made by `pulumi config set --secret`)" };
    case "propertyNames":
      return { file, key: child(at, String(e.params.propertyName)), message: "is not a valid name" };
    default:
      return { file, key: at, message: e.message ?? `fails ${e.keyword}` };
  }
}
