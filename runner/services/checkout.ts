/**
 * A temporary checkout of one commit, for deploying it without touching the user's checkout:
 * a detached `git worktree`, its dependencies installed as that commit's lockfile says (or the
 * current node_modules reused when the lockfile is identical), always removed afterwards.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import type { Context } from "./context";
import { GitopsError } from "../errors";
import * as git from "./git";
import type { Logger } from "../log";

const run = promisify(execFile);

export interface Checkout {
  dir: string;
  /** Whether node_modules was reused from the main checkout (identical lockfile). */
  reusedDependencies: boolean;
}

function sameFile(a: string, b: string): boolean {
  return fs.existsSync(a) && fs.existsSync(b) && fs.readFileSync(a).equals(fs.readFileSync(b));
}

/**
 * Gives checkout `dir` the dependencies its lockfile names: a link to `reuse`'s node_modules when
 * the two lockfiles are identical, else `npm ci` (which `signal` stops). Returns whether it reused them.
 * Not the workspace's own `install()` (`pulumi install --no-plugins`): the Node.js language host
 * runs `npm install` for it, which resolves anew where package.json and the lockfile disagree and
 * may rewrite the commit's lockfile, and it cannot be stopped by `signal`.
 */
export async function installDependencies(log: Logger, dir: string, reuse: string, signal?: AbortSignal): Promise<boolean> {
  const lock = "package-lock.json";
  const current = path.join(reuse, "node_modules");
  if (sameFile(path.join(reuse, lock), path.join(dir, lock)) && fs.existsSync(current)) {
    fs.symlinkSync(fs.realpathSync(current), path.join(dir, "node_modules"));
    return true;
  }
  log.info(`the lockfile differs from the one in ${reuse}: installing the dependencies of ${dir} (npm ci)`);
  try {
    await run("npm", ["ci", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: dir, maxBuffer: 64 * 1024 * 1024, signal });
  } catch (err) {
    throw new GitopsError(
      `cannot install the dependencies of ${dir}: ${(err as { stderr?: string }).stderr?.trim().split("\n").slice(-3).join(" ") ?? String(err)}`,
      "check that the commit's package-lock.json installs (`npm ci` in a checkout of it); fix it in a new commit or choose another one",
    );
  }
  return false;
}

/** Runs `work` on a temporary checkout of `commit`; the worktree is removed however `work` ends. */
export async function withCheckout<T>(ctx: Context, commit: string, work: (c: Checkout) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gitops-${commit.slice(0, 7)}-`));
  fs.rmdirSync(dir);
  await git.addWorktree(ctx.repo, dir, commit);
  ctx.log.debug(`checked out ${commit.slice(0, 7)} in ${dir}`);
  try {
    const reusedDependencies = await installDependencies(ctx.log, dir, ctx.repo);
    return await work({ dir, reusedDependencies });
  } finally {
    await git.removeWorktree(ctx.repo, dir).catch(() => fs.rmSync(dir, { recursive: true, force: true }));
    await git.pruneWorktrees(ctx.repo);
  }
}
