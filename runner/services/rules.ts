/**
 * The runner's rules: stacks/gitops.yaml, optional, every key defaulted from the repository layout.
 * Validated by a JSON schema; every problem is reported at once with the file and key.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv, { type ErrorObject } from "ajv";
import { parse, YAMLParseError } from "yaml";
import { GitopsError } from "../errors";
import { STACK_NAME } from "../../config/patterns";

export const RULES_FILE = "stacks/gitops.yaml";

export interface PathRule {
  /** Globs; a leading `!` excludes. A path matches when it matches an include and no exclude. */
  match: string[];
  /** Stack names, or `*` for every stack. */
  stacks: string[];
}

export interface Rules {
  protectedBranch: string;
  remote: string;
  /** Environment order for apply; stacks not listed follow, alphabetically. */
  order: string[];
  /** Paths whose change affects every stack: the program and its dependencies. */
  program: string[];
  /** Paths that affect nothing, even when another rule matches. */
  ignore: string[];
  rules: PathRule[];
}

export const DEFAULT_RULES: Rules = {
  protectedBranch: "main",
  remote: "origin",
  order: ["dev", "staging", "prod"],
  program: ["index.ts", "program.ts", "components/**", "config/**", "Pulumi.yaml", "package.json", "package-lock.json", "tsconfig.json"],
  ignore: ["**/*.md"],
  rules: [],
};

const globs = { type: "array", items: { type: "string", minLength: 1 } } as const;
const schema = {
  type: "object",
  additionalProperties: false,
  properties: {
    protectedBranch: { type: "string", minLength: 1 },
    remote: { type: "string", minLength: 1 },
    order: { type: "array", items: { type: "string", pattern: STACK_NAME.source }, uniqueItems: true },
    paths: {
      type: "object",
      additionalProperties: false,
      properties: {
        program: globs,
        ignore: globs,
        rules: {
          type: "array",
          items: {
            type: "object",
            additionalProperties: false,
            required: ["match", "stacks"],
            properties: {
              match: { ...globs, minItems: 1 },
              stacks: { type: "array", minItems: 1, items: { type: "string", minLength: 1 } },
            },
          },
        },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true }).compile(schema);

function describe(e: ErrorObject): string {
  const key = e.instancePath.replace(/^\//, "").replace(/\//g, ".") || "(top level)";
  if (e.keyword === "additionalProperties") return `${key === "(top level)" ? "" : key + "."}${e.params.additionalProperty}: unknown key`;
  return `${key}: ${e.message}`;
}

/** Reads stacks/gitops.yaml under repoDir; a missing file means the defaults. */
export function loadRules(repoDir: string): Rules {
  const file = path.join(repoDir, RULES_FILE);
  if (!fs.existsSync(file)) return DEFAULT_RULES;
  let doc: unknown;
  try {
    doc = parse(fs.readFileSync(file, "utf8")) ?? {};
  } catch (err) {
    if (!(err instanceof YAMLParseError)) throw err;
    const at = err.linePos ? `:${err.linePos[0].line}:${err.linePos[0].col}` : "";
    throw new GitopsError(
      `${RULES_FILE}${at}: not valid YAML: ${err.message.split("\n")[0].replace(/ at line \d+, column \d+:$/, "")}`,
      "fix the file's syntax; every key is optional",
    );
  }
  if (!validate(doc)) {
    const problems = (validate.errors ?? []).map((e) => `  ${RULES_FILE}: ${describe(e)}`);
    throw new GitopsError(
      `${RULES_FILE} is invalid:\n${problems.join("\n")}`,
      "see the README's 'Runner rules' section for the keys and their meaning",
    );
  }
  const d = doc as {
    protectedBranch?: string;
    remote?: string;
    order?: string[];
    paths?: { program?: string[]; ignore?: string[]; rules?: PathRule[] };
  };
  return {
    protectedBranch: d.protectedBranch ?? DEFAULT_RULES.protectedBranch,
    remote: d.remote ?? DEFAULT_RULES.remote,
    order: d.order ?? DEFAULT_RULES.order,
    program: d.paths?.program ?? DEFAULT_RULES.program,
    ignore: d.paths?.ignore ?? DEFAULT_RULES.ignore,
    rules: d.paths?.rules ?? DEFAULT_RULES.rules,
  };
}

/** Names in the rules that no stack file declares: almost always a typo worth stopping for. */
export function unknownStackNames(rules: Rules, stacks: string[]): string[] {
  const known = new Set(stacks);
  const named = rules.rules.flatMap((r) => r.stacks).filter((s) => s !== "*");
  return [...new Set(named.filter((s) => !known.has(s)))];
}
