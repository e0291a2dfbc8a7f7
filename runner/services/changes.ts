/**
 * Changed paths -> affected stacks: the program's own files (its real import graph), the declarative
 * path rules (see rules.ts for the defaults) and each stack's file.
 */
import * as path from "node:path";
import picomatch from "picomatch";
import type { ModuleResolutionHost } from "typescript";
import { parse } from "yaml";
import { GitopsError } from "../errors";
import * as git from "./git";
import type { Rules } from "./rules";
import { POLICY_DIR } from "./workspace";

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

/** Files that decide how the program's imports resolve and what is installed for them. */
const PROGRAM_SETTINGS = ["Pulumi.yaml", "tsconfig.json", "package.json", "package-lock.json"];

/** Files TypeScript's module resolution can reach, by their extensions (`.d.ts` and `.d.<x>.ts` included). */
const MODULE_FILE = /\.(?:[cm]?[jt]sx?|json)$/;

/**
 * The program's files (`program`, read only when asked) for choosing the stacks `paths` affect, or
 * none when no changed path can be one of them (a setting, the policy pack or a module file): a
 * change of stack files alone does not wait for the import graph.
 */
export function programFilesAmong(paths: string[], program: () => Promise<ReadonlySet<string>>): Promise<ReadonlySet<string>> {
  const could = (p: string) => PROGRAM_SETTINGS.includes(p) || p.startsWith(`${POLICY_DIR}/`) || MODULE_FILE.test(p);
  return paths.some(could) ? program() : Promise.resolve(new Set());
}

/**
 * The repository files the program at `commit` is made of, read from git: its entry (Pulumi.yaml's
 * `main`, else the project directory by Node's rules, i.e. index.ts), every repository file its
 * imports reach, transitively, as TypeScript itself resolves them (tsconfig.json's options
 * included), the files that steer resolution and installation, and the policy pack (policy/). Dependencies in node_modules are
 * covered by the lockfile. The graph at the newer commit suffices: an edge to a file that changed can
 * only disappear through a change to a file that is still in the graph.
 */
export async function programFiles(repoDir: string, commit: string): Promise<Set<string>> {
  const tree = new Set(await git.filesAt(repoDir, commit));
  if (!tree.has("Pulumi.yaml")) return new Set();
  const reader = git.fileReader(repoDir, commit);
  try {
    return await importGraph(repoDir, commit, tree, reader);
  } finally {
    await reader.close();
  }
}

/** programFiles' traversal, over `tree` (every file of the commit) and the reader of its files. */
async function importGraph(repoDir: string, commit: string, tree: Set<string>, reader: git.FileReader): Promise<Set<string>> {
  // Loaded when first needed (0.25 s), not when the CLI starts: a preview reads the graph while its
  // engine runs, and a command that never reads it never loads it.
  const { default: ts } = await import("typescript");
  const dirs = new Set(
    [...tree].flatMap((f) =>
      f
        .split("/")
        .slice(0, -1)
        .map((_, i, parts) => parts.slice(0, i + 1).join("/")),
    ),
  );
  const text = new Map<string, string>();
  // Only files of the tree are read: one git cannot read is missing from the clone, and a graph
  // without it could leave a changed file out, and an affected stack unpreviewed.
  const load = async (rel: string) => {
    if (!text.has(rel)) {
      const content = await reader.read(rel);
      if (content === undefined)
        throw new GitopsError(
          `${rel} is in commit ${commit.slice(0, 7)} but git cannot read it in ${repoDir}`,
          "the clone is missing objects (`git fsck` names them): fetch again, or clone the repository afresh",
        );
      text.set(rel, content);
    }
    return text.get(rel)!;
  };
  // Resolution reads only package.json files (and the tsconfig, parsed here): fetch them first, so the
  // host TypeScript calls synchronously can answer from memory.
  await Promise.all([...tree].filter((f) => f === "package.json" || f.endsWith("/package.json")).map(load));
  const root = path.resolve(repoDir);
  const rel = (abs: string) => path.relative(root, abs).split(path.sep).join("/");
  const host: ModuleResolutionHost = {
    fileExists: (abs) => tree.has(rel(abs)),
    directoryExists: (abs) => rel(abs) === "" || dirs.has(rel(abs)),
    readFile: (abs) => text.get(rel(abs)),
    getCurrentDirectory: () => root,
  };
  const options = tree.has("tsconfig.json")
    ? ts.convertCompilerOptionsFromJson(
        ts.parseConfigFileTextToJson("tsconfig.json", await load("tsconfig.json")).config?.compilerOptions ?? {},
        root,
      ).options
    : {};
  const resolve = (specifier: string, fromRel: string) => {
    const hit = ts.resolveModuleName(specifier, path.join(root, fromRel), options, host).resolvedModule;
    const file = hit && rel(hit.resolvedFileName);
    return file && tree.has(file) ? file : undefined;
  };

  const main = (parse(await load("Pulumi.yaml")) as { main?: string } | null)?.main ?? ".";
  const entry = resolve(`./${path.posix.normalize(main)}`, "Pulumi.yaml") ?? (tree.has("index.ts") ? "index.ts" : undefined);
  const files = new Set(PROGRAM_SETTINGS.filter((f) => tree.has(f)));
  const queue = entry ? [entry] : [];
  const seen = new Set(queue);
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    files.add(f);
    if (!/\.[cm]?[jt]sx?$/.test(f)) continue;
    // import/export ... from, import(), require(): every way a module names another.
    for (const { fileName } of ts.preProcessFile(await load(f), true, true).importedFiles) {
      const target = resolve(fileName, f);
      if (target && !seen.has(target)) {
        queue.push(target);
        seen.add(target);
      }
    }
  }
  // The policy pack runs on every stack's preview and deploy: a change to it affects them all.
  if (tree.has(`${POLICY_DIR}/PulumiPolicy.yaml`)) for (const f of tree) if (f.startsWith(`${POLICY_DIR}/`)) files.add(f);
  return files;
}

/**
 * Which of `stacks` the changed `paths` affect: every stack for a file of the program (`program`,
 * from programFiles, whatever the rules say, since the program really runs it) or one the rules'
 * `program` globs name; a stack for its own file; the stacks of each matching rule. Ignored paths
 * affect nothing unless the program is made of them.
 */
export function affectedStacks(paths: string[], stacks: string[], rules: Rules, program: ReadonlySet<string> = new Set()): Affected {
  const ignored = globMatcher(rules.ignore);
  const programGlobs = globMatcher(rules.program);
  const custom = rules.rules.map((r) => ({ matches: globMatcher(r.match), stacks: r.stacks }));
  const reasons: Record<string, string[]> = {};
  const mark = (targets: string[], p: string) => {
    for (const s of targets.includes("*") ? stacks : targets) if (stacks.includes(s)) (reasons[s] ??= []).push(p);
  };
  for (const p of paths) {
    if (program.has(p)) {
      mark(["*"], p);
      continue;
    }
    if (ignored(p)) continue;
    if (programGlobs(p)) mark(["*"], p);
    const own = STACK_FILE.exec(p);
    if (own) mark([own[1]], p);
    for (const r of custom) if (r.matches(p)) mark(r.stacks, p);
  }
  return { stacks: stacks.filter((s) => reasons[s]), reasons };
}
