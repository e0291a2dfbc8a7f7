/** Stack discovery and order: every stacks/Pulumi.<env>.yaml is a stack. */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { NAMESPACE, readStackFile } from "../../config";
import { STACK_NAME } from "../../config/patterns";
import { ConfigFileError, GitopsError, usageError } from "../errors";
import type { Rules } from "./rules";

/**
 * Stack names declared in repoDir, in the rules' environment order, the rest alphabetically. A
 * stack file whose name the engine would refuse stops everything here, named, before any engine runs.
 */
export function discoverStacks(repoDir: string, rules: Rules): string[] {
  const dir = path.join(repoDir, "stacks");
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^Pulumi\..+\.ya?ml$/.test(f)) : [];
  const names = files.map((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)![1]);
  const bad = files.filter((_, i) => !STACK_NAME.test(names[i]));
  if (bad.length) {
    throw new GitopsError(
      `${bad.map((f) => `stacks/${f}`).join(", ")}: not a valid stack name`,
      "a stack is named by its file, stacks/Pulumi.<name>.yaml, and the engine accepts only letters, digits, '-', '_' and '.' in <name> (at most 100): rename the file",
    );
  }
  const rank = (s: string) => {
    const i = rules.order.indexOf(s);
    return i === -1 ? rules.order.length : i;
  };
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Narrows `all` to the names the user asked for, refusing unknown ones. */
export function selectStacks(all: string[], requested: string[] | undefined): string[] {
  if (!requested?.length) return all;
  const unknown = requested.filter((s) => !all.includes(s));
  if (unknown.length) {
    throw usageError(
      `unknown stack${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}`,
      `the stacks are ${all.join(", ") || "(none)"}: one stacks/Pulumi.<name>.yaml per stack`,
    );
  }
  return all.filter((s) => requested.includes(s));
}

/** The project name in repoDir's Pulumi.yaml, or undefined when there is none to read. */
export function projectName(repoDir: string): string | undefined {
  try {
    return (parse(fs.readFileSync(path.join(repoDir, "Pulumi.yaml"), "utf8")) as { name?: string } | null)?.name;
  } catch {
    return undefined;
  }
}

/**
 * Validates the config files of `stacks` before any engine runs; every problem in one error. The
 * schema is this project's (its keys live under the project's namespace), so a repository whose
 * Pulumi.yaml names another project is not checked here: its program validates its own config.
 */
export function checkStackFiles(repoDir: string, stacks: string[]): void {
  const project = projectName(repoDir);
  if (project !== undefined && project !== NAMESPACE) return;
  const problems = stacks.flatMap((s) => readStackFile(repoDir, s).problems);
  if (problems.length)
    throw new ConfigFileError("stack configuration is invalid", problems, "fix the listed keys; nothing was previewed or applied");
}
