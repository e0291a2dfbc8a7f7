/**
 * The runner's rules, stacks/gitops.yaml: optional, every key defaulted from the repository layout.
 * Read and checked like a stack file (load.ts): one schema, every problem at once, one format.
 */
import type { FromSchema } from "json-schema-to-ts";
import { ajv, type ConfigProblem, readYamlMapping, schemaProblem } from "./load";
import { STACK_NAME } from "./patterns";

export const RULES_FILE = "stacks/gitops.yaml";

const globs = { type: "array", items: { type: "string", minLength: 1 } } as const;

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
};

const validate = ajv.compile<RulesFile>(rulesSchema);

/** Reads stacks/gitops.yaml under `repoDir` (absent: the defaults), or says everything wrong with it. */
export function readRules(repoDir: string): { rules?: Rules; problems: ConfigProblem[] } {
  const { root, problems } = readYamlMapping(repoDir, RULES_FILE, { what: "rules file", optional: true });
  if (problems.length) return { problems };
  if (root === undefined) return { rules: DEFAULT_RULES, problems };
  if (!validate(root)) return { problems: (validate.errors ?? []).map((e) => schemaProblem(RULES_FILE, e)) };
  const { paths, ...top } = root;
  return { rules: { ...DEFAULT_RULES, ...top, ...paths }, problems };
}
