/**
 * The runner's rules, stacks/gitops.yaml: optional, every key defaulted from the repository layout.
 * Read and checked like a stack file (load.ts): one schema, every problem at once, one format.
 */
import type { ValidateFunction } from "ajv";
import type { FromSchema } from "json-schema-to-ts";
import { ajv, type ConfigProblem, readYamlMapping, schemaProblem } from "./load";
import { DURATION, durationMs } from "./duration";
import { STACK_NAME } from "./patterns";

export const RULES_FILE = "stacks/gitops.yaml";

const globs = { type: "array", items: { type: "string", minLength: 1 } } as const;

const duration = (description: string) => ({ type: "string", pattern: DURATION.source, description }) as const;

/** One verification check of a stage: exactly one of `http` and `command` (checked in readRules). */
const checkSchema = {
  type: "object",
  additionalProperties: false,
  required: ["name"],
  properties: {
    name: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$", description: "Names the check in reports and records" },
    http: {
      type: "object",
      additionalProperties: false,
      required: ["url"],
      properties: {
        url: { type: "string", minLength: 1, description: "The URL; `${outputs.<name>}` is replaced by the stack's output" },
        status: { type: "integer", minimum: 100, maximum: 599, description: "The status that passes (default 200)" },
        passes: { type: "integer", minimum: 1, description: "Consecutive passing requests needed (default 1)" },
        attempts: { type: "integer", minimum: 1, description: "Requests at most (default: passes)" },
        interval: duration("Pause between requests (default 1s)"),
      },
    },
    command: {
      type: "string",
      minLength: 1,
      description: "Run by `sh -c` in a checkout of the deployed commit, the outputs in GITOPS_OUTPUT_<NAME>; exit 0 passes",
    },
    timeout: duration("Bound of one request or of the command (default 10s for http, 5m for a command)"),
  },
} as const;

/** JSON schema of stacks/gitops.yaml; the README's "Which stacks a change affects" explains the keys. */
export const rulesSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    protectedBranch: { type: "string", minLength: 1, description: "The branch apply runs on" },
    remote: { type: "string", minLength: 1, description: "apply requires HEAD == <remote>/<protectedBranch> when the remote exists" },
    order: {
      type: "array",
      items: { type: "string", pattern: STACK_NAME.source },
      uniqueItems: true,
      description: "Environment order for apply; stacks not listed follow, alphabetically",
    },
    review: {
      type: "object",
      additionalProperties: false,
      properties: {
        required: {
          type: "array",
          items: { type: "string", minLength: 1 },
          uniqueItems: true,
          description:
            "Stacks apply deploys only as a pull request's preview showed them (same inputs, state and changes), or `*` for every stack. Default: every stack after the first in `order`",
        },
      },
    },
    stages: {
      type: "object",
      propertyNames: { pattern: STACK_NAME.source },
      description: "Per stack: the stack it is promoted from, the soak time there, its verification checks",
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        properties: {
          from: { type: "string", pattern: STACK_NAME.source, description: "Deploy only commits this stack runs and verified" },
          soak: duration("How long `from` must have run the commit first (needs `from`)"),
          checks: { type: "array", items: checkSchema, description: "Run after each update of this stack and before promoting from it" },
          onFailure: {
            enum: ["keep", "rollback"],
            description: "When a check fails after an update: keep the commit (default) or roll back",
          },
        },
      },
    },
    paths: {
      type: "object",
      additionalProperties: false,
      properties: {
        program: { ...globs, description: "Paths whose change affects every stack: the program and its dependencies" },
        ignore: { ...globs, description: "Paths that affect nothing, even when another rule matches" },
        rules: {
          type: "array",
          items: {
            type: "object",
            additionalProperties: false,
            required: ["match", "stacks"],
            properties: {
              match: { ...globs, minItems: 1, description: "Globs; a leading `!` excludes. A path matches an include and no exclude" },
              stacks: {
                type: "array",
                minItems: 1,
                items: { type: "string", minLength: 1 },
                description: "Stack names, or `*` for every stack",
              },
            },
          },
        },
      },
    },
  },
} as const;

/** stacks/gitops.yaml as written: every key optional. */
export type RulesFile = FromSchema<typeof rulesSchema>;
type Paths = NonNullable<RulesFile["paths"]>;
/** A stack's stage: where its commits come from, how long they soak there, how it is verified. */
export type Stage = NonNullable<RulesFile["stages"]>[string];
/** One verification check of a stage. */
export type Check = NonNullable<Stage["checks"]>[number];
/** Globs -> the stacks a change to a matching path affects. */
export type PathRule = NonNullable<Paths["rules"]>[number];
/** The rules in force: the file's keys over {@link DEFAULT_RULES}, `paths` flattened. */
export type Rules = Required<Omit<RulesFile, "paths">> & Required<Paths>;
/** stacks/gitops.yaml's `review`: without `required`, every stack after the first in the apply order. */
export type ReviewRules = Rules["review"];

export const DEFAULT_RULES: Rules = {
  protectedBranch: "main",
  remote: "origin",
  order: ["dev", "staging", "prod"],
  review: {},
  program: ["index.ts", "program.ts", "components/**", "config/**", "Pulumi.yaml", "package.json", "package-lock.json", "tsconfig.json"],
  ignore: ["**/*.md"],
  rules: [],
  stages: {},
};

/** Compiled on first use: compiling the schema is most of what `gitops --help` would otherwise load. */
let validate: ValidateFunction<RulesFile> | undefined;

/** Reads stacks/gitops.yaml under `repoDir` (absent: the defaults), or says everything wrong with it. */
export function readRules(repoDir: string): { rules?: Rules; problems: ConfigProblem[] } {
  const { root, problems } = readYamlMapping(repoDir, RULES_FILE, { what: "rules file", optional: true });
  if (problems.length) return { problems };
  if (root === undefined) return { rules: DEFAULT_RULES, problems };
  validate ??= ajv.compile<RulesFile>(rulesSchema);
  if (!validate(root)) return { problems: (validate.errors ?? []).map((e) => schemaProblem(RULES_FILE, e)) };
  const stageProblems = checkStages(root.stages ?? {});
  if (stageProblems.length) return { problems: stageProblems };
  const { paths, ...top } = root;
  return { rules: { ...DEFAULT_RULES, ...top, ...paths }, problems };
}

/** What the schema cannot say about stages: one kind of check each, soak only with `from`, no loop of `from`s. */
function checkStages(stages: Record<string, Stage>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = (key: string, message: string) => problems.push({ file: RULES_FILE, key, message });
  for (const [stack, stage] of Object.entries(stages)) {
    if (stage.soak !== undefined && stage.from === undefined) at(`stages.${stack}.soak`, "needs `from`: the stack the commit soaks in");
    if (stage.soak !== undefined && durationMs(stage.soak) === undefined) at(`stages.${stack}.soak`, "is not a duration");
    const names = new Set<string>();
    for (const [i, c] of (stage.checks ?? []).entries()) {
      const key = `stages.${stack}.checks[${i}]`;
      if ((c.http === undefined) === (c.command === undefined)) at(key, "needs exactly one of `http` and `command`");
      if (names.has(c.name)) at(`${key}.name`, `'${c.name}' is the name of another check of ${stack}`);
      names.add(c.name);
      if (c.http && (c.http.attempts ?? 1) < (c.http.passes ?? 1)) at(`${key}.http.attempts`, "must be at least `passes`");
    }
    // Following `from` from this stack must end, not come back to it.
    const seen = new Set([stack]);
    for (let s = stage.from; s !== undefined; s = stages[s]?.from) {
      if (seen.has(s)) {
        at(`stages.${stack}.from`, `makes a loop: ${[...seen, s].join(" <- ")}`);
        break;
      }
      seen.add(s);
    }
  }
  return problems;
}
