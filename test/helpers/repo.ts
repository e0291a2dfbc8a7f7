/**
 * Temporary git repositories made from this project's program, with a bare `origin`, for scenario
 * tests that drive the gitops CLI as a user would. Real git, real engine, nothing stubbed.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const PROJECT = path.resolve(__dirname, "..", "..");

export interface TestRepo {
  dir: string;
  origin: string;
  git(...args: string[]): string;
  write(file: string, text: string): void;
  read(file: string): string;
  /** Stages everything and commits; returns the new commit's hash. */
  commit(message: string): string;
  remove(): void;
}

/** A copy of stacks/Pulumi.dev.yaml renamed for `name`: renders to rendered/<name>, works offline. */
export function renderStackYaml(name: string): string {
  return fs.readFileSync(path.join(PROJECT, "stacks", "Pulumi.dev.yaml"), "utf8").replace(/\bdev\b/g, name);
}

/** The dev stack's config renamed for `name`, on a live cluster (no kubelet) whose kubeconfig comes from KUBECONFIG. */
export function clusterStackYaml(name: string): string {
  const text = renderStackYaml(name).replace(
    new RegExp(`mode: render\\n(\\s+)renderDir: rendered/${name}`),
    "mode: cluster\n$1skipAwait: true",
  );
  if (!/mode: cluster\n\s+skipAwait: true/.test(text))
    throw new Error("stacks/Pulumi.dev.yaml no longer has the shape clusterStackYaml rewrites");
  return text;
}

export function git(dir: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** This project's tracked files as they are in its working tree (deleted ones left out). */
function trackedFiles(): string[] {
  return git(PROJECT, "ls-files", "-z")
    .split("\0")
    .filter((f) => f && fs.existsSync(path.join(PROJECT, f)));
}

/**
 * Fills `dir` with this project's tracked files but its stack files (its real .gitignore,
 * lockfile, program and rules: a hand-written look-alike once hid a defect the real files showed),
 * and links this project's node_modules in, as `npm ci` would have made it.
 */
export function copyProject(dir: string, keep: (file: string) => boolean = () => true): void {
  for (const f of trackedFiles()) {
    if (/^stacks\/Pulumi\.[^/]+\.ya?ml$/.test(f) || !keep(f)) continue;
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(PROJECT, f), path.join(dir, f));
  }
  linkDependencies(dir);
}

/**
 * Links this project's node_modules into the checkout `dir` in place of an `npm ci`. The link is
 * excluded in the checkout's own .git/info/exclude (created by initRepo): a real node_modules
 * directory is ignored by the project's `node_modules/` pattern, a link to one is not.
 */
function linkDependencies(dir: string): void {
  fs.symlinkSync(path.join(PROJECT, "node_modules"), path.join(dir, "node_modules"));
}

/**
 * The scenarios' rule unless a test is about reviewed previews: apply needs none (by default it
 * needs one for every stack after the first, and most scenarios deploy staging without a pull request).
 */
export const NO_REVIEW = "review:\n  required: []\n";

/**
 * A repository on `main` holding this project (program, lockfile, .gitignore, README…) with one
 * offline stack file per name in `stacks` instead of the project's own, pushed to a bare `origin`.
 * Its stacks/gitops.yaml is {@link NO_REVIEW}, or none (the defaults) with `reviews`.
 */
export function createRepo(stacks: string[] = ["dev", "staging", "prod"], o: { reviews?: boolean } = {}): TestRepo {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-test-"));
  const dir = path.join(root, "work");
  const origin = path.join(root, "origin.git");
  fs.mkdirSync(path.join(dir, "stacks"), { recursive: true });
  copyProject(dir);
  for (const s of stacks) fs.writeFileSync(path.join(dir, "stacks", `Pulumi.${s}.yaml`), renderStackYaml(s));
  if (!o.reviews) fs.writeFileSync(path.join(dir, "stacks", "gitops.yaml"), NO_REVIEW);
  return initRepo(root, dir, origin);
}

/**
 * A repository whose stacks (by default one, `local`) run on a live cluster (clusterStackYaml),
 * each in its own namespace, web-<stack>, committed and pushed.
 */
export function createClusterRepo(stacks: string[] = ["local"]): TestRepo {
  const repo = createRepo([]);
  for (const s of stacks) repo.write(`stacks/Pulumi.${s}.yaml`, clusterStackYaml(s));
  repo.commit(`stacks on a live cluster: ${stacks.join(", ")}`);
  repo.git("push", "-q", "origin", "main");
  return repo;
}

/**
 * A repository on `main` holding another program than this project's: `files` (path -> text, with
 * its own Pulumi.yaml and stacks/gitops.yaml) and one stacks/Pulumi.<name>.yaml per `stacks` entry,
 * over this project's tracked files but its program and the policy pack written for it (so its
 * .gitignore, package.json, lockfile, tsconfig.json, and node_modules linked), pushed to a bare
 * `origin`. The fixture programs write under `target/`, which the project's .gitignore is extended
 * to ignore.
 */
export function createFixtureRepo(files: Record<string, string>, stacks: Record<string, string>): TestRepo {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-fixture-"));
  const dir = path.join(root, "work");
  const origin = path.join(root, "origin.git");
  fs.mkdirSync(path.join(dir, "stacks"), { recursive: true });
  // config/ stays: the runner's own declarations, which its build (npm ci's prepare) compiles with it.
  copyProject(dir, (f) => !/^(index\.ts|program\.ts|components\/|policy\/)/.test(f));
  const all = { ...files, ...Object.fromEntries(Object.entries(stacks).map(([s, text]) => [`stacks/Pulumi.${s}.yaml`, text])) };
  for (const [f, text] of Object.entries(all)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
  fs.appendFileSync(path.join(dir, ".gitignore"), "target/\n");
  return initRepo(root, dir, origin);
}

/** Makes `dir` a repository on `main` with one commit of everything, pushed to a bare `origin`. */
function initRepo(root: string, dir: string, origin: string): TestRepo {
  git(root, "init", "-q", "--bare", "-b", "main", origin);
  git(root, "init", "-q", "-b", "main", dir);
  fs.appendFileSync(path.join(dir, ".git", "info", "exclude"), "/node_modules\n");
  for (const [k, v] of [
    ["user.name", "Test"],
    ["user.email", "test@example.invalid"],
    ["commit.gpgsign", "false"],
  ])
    git(dir, "config", k, v);
  const repo: TestRepo = {
    dir,
    origin,
    git: (...args) => git(dir, ...args),
    write: (file, text) => {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    },
    read: (file) => fs.readFileSync(path.join(dir, file), "utf8"),
    commit: (message) => {
      git(dir, "add", "-A");
      git(dir, "commit", "-q", "-m", message);
      return git(dir, "rev-parse", "HEAD");
    },
    remove: () => fs.rmSync(root, { recursive: true, force: true }),
  };
  repo.commit("initial infrastructure");
  git(dir, "remote", "add", "origin", origin);
  git(dir, "push", "-q", "-u", "origin", "main");
  return repo;
}

const FILE_PROGRAM = ["index.ts", "Pulumi.yaml", "package.json", "package-lock.json", "tsconfig.json"];

/** stacks/Pulumi.dev.yaml of createFileRepo's program; without `content`, the program fails (a broken commit). */
export function fileStackYaml(content: string | undefined): string {
  return `config:\n  drift-fixture:path: target/greeting.txt\n${content === undefined ? "" : `  drift-fixture:content: ${content}\n`}`;
}

/**
 * A repository whose one stack, dev, manages a local file, target/greeting.txt under the checkout
 * that deploys it, with test/fixtures/file-program: a refresh reads the file back, so edits and
 * deletions made by hand are real drift.
 */
export function createFileRepo(content = "hello"): TestRepo {
  return createFixtureRepo(
    {
      "Pulumi.yaml": "name: drift-fixture\nruntime:\n  name: nodejs\n  options:\n    typescript: true\nstackConfigDir: stacks\n",
      "index.ts": fs.readFileSync(path.join(PROJECT, "test", "fixtures", "file-program", "index.ts"), "utf8"),
      "stacks/gitops.yaml": `paths:\n  program: [${FILE_PROGRAM.join(", ")}]\n${NO_REVIEW}`,
    },
    { dev: fileStackYaml(content) },
  );
}

export interface CounterConfig {
  count: number;
  version: string;
  /** The update waits, holding the stack's lock, until this file exists (see test/fixtures/counter-app). */
  holdFile?: string;
}

/** A stack file of createCounterRepo's program. */
export function counterStackYaml(c: CounterConfig): string {
  const lines = [`  counter-app:count: "${c.count}"`, `  counter-app:version: ${c.version}`];
  if (c.holdFile) lines.push(`  counter-app:holdFile: ${c.holdFile}`);
  return `config:\n${lines.join("\n")}\n`;
}

/**
 * A repository whose program is test/fixtures/counter-app (no provider, nothing outside the state),
 * one stack per entry of `stacks`: an update of it can be held open at a known point.
 */
export function createCounterRepo(stacks: Record<string, CounterConfig>): TestRepo {
  return createFixtureRepo(
    {
      "Pulumi.yaml": "name: counter-app\nruntime:\n  name: nodejs\n  options:\n    typescript: true\nstackConfigDir: stacks\n",
      "index.ts": fs.readFileSync(path.join(PROJECT, "test", "fixtures", "counter-app", "index.ts"), "utf8"),
      "stacks/gitops.yaml": `paths:\n  program: [${FILE_PROGRAM.join(", ")}]\n${NO_REVIEW}`,
    },
    Object.fromEntries(Object.entries(stacks).map(([s, c]) => [s, counterStackYaml(c)])),
  );
}

/**
 * A directory holding a `git` that appends each run's arguments (a line each) to a log, then runs
 * the real git: first on PATH, it shows which git processes a command starts.
 */
export function loggingGit(): { dir: string; runs: () => string[]; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-git-log-"));
  const log = path.join(dir, "runs");
  const real = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim();
  fs.writeFileSync(path.join(dir, "git"), `#!/bin/sh\necho "$*" >> "${log}"\nexec "${real}" "$@"\n`, { mode: 0o755 });
  return {
    dir,
    runs: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean) : []),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
