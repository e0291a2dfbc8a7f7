/** Changed paths -> affected stacks, by declarative path rules (see rules.ts for the defaults). */
import picomatch from "picomatch";
import type { Rules } from "./rules";

export interface Affected {
  /** Affected stacks, in the order given by `stacks`. */
  stacks: string[];
  /** For each affected stack, the paths that made it so (for the report and --debug). */
  reasons: Record<string, string[]>;
}

/** A matcher for globs where a leading `!` excludes: include-any and exclude-none. */
export function globMatcher(patterns: string[]): (p: string) => boolean {
  const include = patterns.filter((g) => !g.startsWith("!"));
  const exclude = patterns.filter((g) => g.startsWith("!")).map((g) => g.slice(1));
  const inc = include.length ? picomatch(include, { dot: true }) : () => false;
  const exc = exclude.length ? picomatch(exclude, { dot: true }) : () => false;
  return (p) => inc(p) && !exc(p);
}

const STACK_FILE = /^stacks\/Pulumi\.([^/]+)\.ya?ml$/;

/** Which of `stacks` the changed `paths` affect. */
export function affectedStacks(paths: string[], stacks: string[], rules: Rules): Affected {
  const ignored = globMatcher(rules.ignore);
  const program = globMatcher(rules.program);
  const custom = rules.rules.map((r) => ({ matches: globMatcher(r.match), stacks: r.stacks }));
  const reasons: Record<string, string[]> = {};
  const mark = (targets: string[], p: string) => {
    for (const s of targets.includes("*") ? stacks : targets) if (stacks.includes(s)) (reasons[s] ??= []).push(p);
  };
  for (const p of paths) {
    if (ignored(p)) continue;
    if (program(p)) mark(["*"], p);
    const own = STACK_FILE.exec(p);
    if (own) mark([own[1]], p);
    for (const r of custom) if (r.matches(p)) mark(r.stacks, p);
  }
  return { stacks: stacks.filter((s) => reasons[s]), reasons };
}
