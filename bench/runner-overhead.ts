/**
 * How much the runner adds to the engine: a one-stack `gitops preview` against a raw
 * `pulumi preview` of the same stack, and `gitops rollback --to previous` against a plain
 * `gitops apply` of the same change. Prints medians; run with `node --import tsx bench/runner-overhead.ts [runs]`.
 *
 * Self-contained (the tests' helpers are theirs to change): it builds its scratch repository from
 * this project's tracked files, as a user's checkout would hold them, and asks the runner itself for
 * the engine's environment.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createContext } from "../runner/services/context";
import { engineEnv } from "../runner/services/workspace";

const PROJECT = path.resolve(__dirname, "..");
const BIN = path.join(PROJECT, "bin", "gitops");

/** What a user's shell would have: no PULUMI_* of the developer's session. */
const env: NodeJS.ProcessEnv = Object.fromEntries(
  ["PATH", "HOME", "XDG_CACHE_HOME", "PULUMI_GITOPS_CACHE", "PULUMI_GITOPS_ENGINE", "TMPDIR", "LANG"].flatMap((k) =>
    process.env[k] === undefined ? [] : [[k, process.env[k]]],
  ),
);

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

/**
 * A scratch repository on `main` pushed to a bare `origin`: this project's tracked files as in its
 * working tree, with the offline dev stack as the only stack, and its node_modules linked.
 */
function scratchRepo(): { root: string; dir: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-bench-"));
  const dir = path.join(root, "work");
  for (const f of git(PROJECT, "ls-files", "-z").split("\0")) {
    const stackFile = /^stacks\/Pulumi\.[^/]+\.ya?ml$/.test(f) && f !== "stacks/Pulumi.dev.yaml";
    if (!f || stackFile || !fs.existsSync(path.join(PROJECT, f))) continue;
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(PROJECT, f), path.join(dir, f));
  }
  fs.symlinkSync(path.join(PROJECT, "node_modules"), path.join(dir, "node_modules"));
  git(root, "init", "-q", "--bare", "-b", "main", "origin.git");
  git(dir, "init", "-q", "-b", "main");
  fs.appendFileSync(path.join(dir, ".git", "info", "exclude"), "/node_modules\n");
  for (const [k, v] of [
    ["user.name", "Bench"],
    ["user.email", "bench@example.invalid"],
    ["commit.gpgsign", "false"],
  ])
    git(dir, "config", k, v);
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", "initial infrastructure");
  git(dir, "remote", "add", "origin", path.join(root, "origin.git"));
  git(dir, "push", "-q", "-u", "origin", "main");
  return { root, dir };
}

const runs = Number(process.argv[2] ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const { root, dir } = scratchRepo();
  try {
    const ok = (...args: string[]) => {
      try {
        execFileSync(process.execPath, [BIN, ...args], { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] });
      } catch (err) {
        throw new Error(`gitops ${args.join(" ")} failed:\n${(err as { stderr?: Buffer }).stderr}`, { cause: err });
      }
    };
    ok("apply");
    // The engine as the runner runs it: its binary, backend, passphrase and PULUMI_HOME.
    const { engine } = await createContext({}, env, dir);
    const raw = () =>
      execFileSync(path.join(engine.engineDir, "bin", "pulumi"), ["preview", "--stack", "dev", "--non-interactive"], {
        cwd: dir,
        env: { HOME: env.HOME, ...engineEnv(engine) },
        stdio: "ignore",
      });
    const tRaw: number[] = [];
    const tRunner: number[] = [];
    for (let i = 0; i < runs; i++) {
      tRaw.push(await time(raw));
      tRunner.push(await time(() => ok("preview", "--stack", "dev")));
    }
    const tApply: number[] = [];
    const tRollback: number[] = [];
    const stackFile = path.join(dir, "stacks", "Pulumi.dev.yaml");
    for (let i = 0; i < runs; i++) {
      fs.writeFileSync(stackFile, fs.readFileSync(stackFile, "utf8").replace(/replicas: \d+/, `replicas: ${i + 2}`));
      git(dir, "commit", "-q", "-am", `replicas ${i + 2}`);
      git(dir, "push", "-q", "origin", "main");
      ok("unpin", "--stack", "dev");
      tApply.push(await time(() => ok("apply")));
      tRollback.push(await time(() => ok("rollback", "--stack", "dev", "--to", "previous", "--yes")));
    }
    const fmt = (ms: number) => `${(ms / 1000).toFixed(2)}s`;
    console.log(`runs: ${runs}`);
    console.log(`pulumi preview (raw)       median ${fmt(median(tRaw))}`);
    console.log(`gitops preview --stack dev median ${fmt(median(tRunner))}  (+${fmt(median(tRunner) - median(tRaw))})`);
    console.log(`gitops apply               median ${fmt(median(tApply))}`);
    console.log(`gitops rollback --to prev  median ${fmt(median(tRollback))}  (+${fmt(median(tRollback) - median(tApply))})`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

void main();
