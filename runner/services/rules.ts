/** The runner's rules, stacks/gitops.yaml (declared and read in config/rules.ts), for the runner. */
import { readRules, type Rules } from "../../config/rules";
import { ConfigFileError } from "../errors";

export { DEFAULT_RULES, RULES_FILE, type Check, type PathRule, type Rules, type Stage } from "../../config/rules";

/** The rules under `repoDir`: the defaults without a stacks/gitops.yaml; a ConfigFileError naming each problem. */
export function loadRules(repoDir: string): Rules {
  const { rules, problems } = readRules(repoDir);
  if (!rules)
    throw new ConfigFileError(
      "the runner's rules are invalid",
      problems,
      'fix the listed keys; every key is optional (README: "Which stacks a change affects")',
    );
  return rules;
}
