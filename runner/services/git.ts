/**
 * Every git call the runner makes: flat async functions over simple-git, each taking the
 * repository path explicitly so that tests, rollback worktrees and the agent can use any checkout;
 * fileReader talks to its one long-lived git process itself, which simple-git does not offer.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { GitPluginError, simpleGit, type SimpleGit } from "simple-git";
import { GitopsError, refused } from "../errors";

const git = (dir: string): SimpleGit => simpleGit({ baseDir: dir, trimmed: true });

/** How long a git call that talks to a remote may go without an answer (GITOPS_GIT_TIMEOUT overrides it). */
export const DEFAULT_NETWORK_TIMEOUT = "2m";

/** Bounds of a git call that talks to a remote: a remote that accepts and never answers must not hang the runner. */
export interface NetworkOptions {
  timeoutMs: number;
  /** Stops the call at once (the agent's shutdown). */
  signal?: AbortSignal;
}

const remoteGit = (dir: string | undefined, o: NetworkOptions): SimpleGit =>
  simpleGit({ ...(dir ? { baseDir: dir } : {}), trimmed: true, timeout: { block: o.timeoutMs }, abort: o.signal });

/** Thrown when a remote did not answer within the timeout. */
export class GitTimeoutError extends GitopsError {
  constructor(what: string, timeoutMs: number) {
    super(
      `${what}: the remote did not answer within ${+(timeoutMs / 1000).toFixed(1)}s`,
      "check that the git server is up and reachable from here; a large repository on a slow link may need a longer GITOPS_GIT_TIMEOUT (e.g. 10m)",
    );
    this.name = "GitTimeoutError";
  }
}

/** Thrown when a git call that talks to a remote was stopped by its signal. */
export class GitAbortedError extends GitopsError {
  constructor(what: string) {
    super(`${what}: stopped`, "the runner was asked to stop");
    this.name = "GitAbortedError";
  }
}

/** A failed network call as the user should see it: its own error for a timeout or a stop, else `fallback`. */
function networkError(err: unknown, what: string, o: NetworkOptions, fallback: (message: string) => GitopsError): GitopsError {
  if (err instanceof GitPluginError && err.plugin === "timeout") return new GitTimeoutError(redactUrls(what), o.timeoutMs);
  if (err instanceof GitPluginError && err.plugin === "abort") return new GitAbortedError(redactUrls(what));
  return fallback(redactUrls(`${what}: ${(err as Error).message.trim()}`));
}

export async function repoRoot(dir: string): Promise<string> {
  try {
    return await git(dir).revparse(["--show-toplevel"]);
  } catch {
    throw new GitopsError(
      `${dir} is not inside a git repository`,
      "run gitops from a clone of your infrastructure repository, or pass --repo <path>",
    );
  }
}

export async function headCommit(dir: string): Promise<string> {
  return git(dir).revparse(["HEAD"]);
}

/** The checked-out branch, or undefined on a detached HEAD. */
export async function currentBranch(dir: string): Promise<string | undefined> {
  const name = await git(dir).raw(["branch", "--show-current"]);
  return name || undefined;
}

/** Resolves a commit-ish to a full commit hash, or undefined when it names nothing. */
export async function resolveCommit(dir: string, rev: string): Promise<string | undefined> {
  try {
    return await git(dir).raw(["rev-parse", "--verify", "--quiet", `${rev}^{commit}`]);
  } catch {
    return undefined;
  }
}

export async function requireCommit(dir: string, rev: string, what: string): Promise<string> {
  const commit = await resolveCommit(dir, rev);
  if (!commit)
    throw new GitopsError(
      `${what} '${rev}' does not name a commit in ${dir}`,
      "check the name with `git log --oneline --all`, or fetch it first",
    );
  return commit;
}

export async function commitSubject(dir: string, commit: string): Promise<string | undefined> {
  try {
    return await git(dir).raw(["log", "-1", "--format=%s", commit]);
  } catch {
    return undefined;
  }
}

/** Who wrote `commit` and when (author date, ISO 8601), for showing it; undefined when it is not in `dir`. */
export async function commitAuthor(dir: string, commit: string): Promise<{ author: string; date: string } | undefined> {
  try {
    const [author, date] = (await git(dir).raw(["log", "-1", "--format=%an%x00%aI", commit])).split("\0");
    return { author, date };
  } catch {
    return undefined;
  }
}

/** Paths with uncommitted changes (staged, unstaged or untracked; ignored files excluded). */
export async function dirtyPaths(dir: string): Promise<string[]> {
  const status = await git(dir).status();
  return status.files.map((f) => f.path);
}

export async function mergeBase(dir: string, a: string, b: string): Promise<string> {
  return git(dir).raw(["merge-base", a, b]);
}

/** Files changed between two commits (renames count as both paths). */
export async function changedPaths(dir: string, from: string, to: string): Promise<string[]> {
  const out = await git(dir).raw(["diff", "--name-only", "--no-renames", from, to]);
  return out ? out.split("\n") : [];
}

/** Every file in `commit`'s tree, repository-relative. */
export async function filesAt(dir: string, commit: string): Promise<string[]> {
  const out = await git(dir).raw(["ls-tree", "-r", "-z", "--name-only", commit]);
  return out.split("\0").filter(Boolean);
}

/** Every file of `commit`'s tree with its blob id: the content's own hash, as git keeps it. */
export async function blobsAt(dir: string, commit: string): Promise<Map<string, string>> {
  const out = await git(dir).raw(["ls-tree", "-r", "-z", commit]);
  const blobs = new Map<string, string>();
  for (const line of out.split("\0")) {
    const m = /^\d+ blob ([0-9a-f]+)\t(.+)$/s.exec(line);
    if (m) blobs.set(m[2], m[1]);
  }
  return blobs;
}

/** Reads files as one commit has them; see fileReader. */
export interface FileReader {
  /** The text of `file`, or undefined when the commit has no such file. */
  read(file: string): Promise<string | undefined>;
  /** Ends the git process once the reads asked for so far are answered; resolves when it has exited. */
  close(): Promise<void>;
}

/**
 * Reads files of `commit` through ONE `git cat-file --batch` process however many are asked for, as
 * a caller finds which it needs (a `git show` each would start a process each). Answers come in the
 * order asked. Call `close` when done.
 */
export function fileReader(dir: string, commit: string): FileReader {
  const child = spawn("git", ["cat-file", "--batch"], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
  const waiting: { resolve: (text: string | undefined) => void; reject: (err: Error) => void }[] = [];
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    for (const w of waiting.splice(0)) w.reject(failure);
  };
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.on("error", fail);
  // A write after git has died fails with EPIPE; its exit, below, is what gets reported.
  child.stdin.on("error", () => undefined);
  const exited = new Promise<void>((resolve) =>
    child.on("close", (code, signal) => {
      fail(new Error(`git cat-file --batch in ${dir} ended (${signal ?? `exit code ${code}`}) ${stderr.trim()}`.trim()));
      resolve();
    }),
  );

  // The output is "<oid> <type> <size>\n<size bytes>\n" per object found, "<name> missing\n" else.
  // Sizes count bytes, so the output is kept as bytes until a whole object is in; the chunks of a
  // large one are joined once.
  let parts: Buffer[] = [];
  let have = 0;
  let need: number | undefined; // the current object's bytes, its trailing LF included
  let isBlob = false;
  const joined = () => (parts.length === 1 ? parts[0] : Buffer.concat(parts));
  child.stdout.on("data", (chunk: Buffer) => {
    parts.push(chunk);
    have += chunk.length;
    for (;;) {
      if (need === undefined) {
        const buf = joined();
        const eol = buf.indexOf(0x0a);
        if (eol < 0) {
          parts = [buf];
          return;
        }
        const header = /^[0-9a-f]+ (\S+) (\d+)$/.exec(buf.toString("utf8", 0, eol));
        const rest = buf.subarray(eol + 1);
        [parts, have] = [[rest], rest.length];
        if (!header) {
          waiting.shift()?.resolve(undefined);
          continue;
        }
        [need, isBlob] = [Number(header[2]) + 1, header[1] === "blob"];
      }
      if (have < need) return;
      const buf = joined();
      waiting.shift()?.resolve(isBlob ? buf.toString("utf8", 0, need - 1) : undefined);
      const rest = buf.subarray(need);
      [parts, have, need] = [[rest], rest.length, undefined];
    }
  });

  return {
    read: (file) =>
      new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        // --batch reads one name a line: a path with a line break in it cannot be asked for.
        if (file.includes("\n")) return resolve(undefined);
        waiting.push({ resolve, reject });
        child.stdin.write(`${commit}:${file}\n`);
      }),
    close: () => {
      child.stdin.end();
      return exited;
    },
  };
}

/** Whether `descendant` contains `ancestor` (both full hashes). `--is-ancestor` answers only by exit
 * code, which simple-git does not report, so this compares the merge-base instead. */
export async function isAncestor(dir: string, ancestor: string, descendant: string): Promise<boolean> {
  const base = await mergeBase(dir, ancestor, descendant).catch(() => "");
  return base === ancestor;
}

export async function countCommits(dir: string, from: string, to: string): Promise<number> {
  return Number(await git(dir).raw(["rev-list", "--count", `${from}..${to}`]));
}

/** The protected branch's tip as this checkout knows it: the remote's tracking branch when there is one. */
export async function mainTip(dir: string, rules: { remote: string; protectedBranch: string }): Promise<string | undefined> {
  const { remote, protectedBranch } = rules;
  return (await resolveCommit(dir, `refs/remotes/${remote}/${protectedBranch}`)) ?? (await resolveCommit(dir, protectedBranch));
}

export async function hasRemote(dir: string, remote: string): Promise<boolean> {
  const remotes = await git(dir).getRemotes();
  return remotes.some((r) => r.name === remote);
}

/** Fetches one branch of a remote and returns its tip. */
export async function fetchRemoteTip(dir: string, remote: string, branch: string, o: NetworkOptions): Promise<string> {
  try {
    await remoteGit(dir, o).fetch(remote, branch);
  } catch (err) {
    throw networkError(
      err,
      `cannot fetch ${branch} from the remote '${remote}'`,
      o,
      (message) => new GitopsError(message, "check the remote's URL and credentials (`git remote -v`)"),
    );
  }
  return requireCommit(dir, `refs/remotes/${remote}/${branch}`, "remote branch");
}

/** Refuses unless HEAD is exactly the remote branch's tip (neither behind, ahead nor diverged). */
export async function requireUndiverged(dir: string, remote: string, branch: string, o: NetworkOptions): Promise<void> {
  const [head, tip] = await Promise.all([headCommit(dir), fetchRemoteTip(dir, remote, branch, o)]);
  if (head === tip) return;
  const behind = await countCommits(dir, head, tip);
  const ahead = await countCommits(dir, tip, head);
  const state =
    ahead && behind
      ? `diverged from ${remote}/${branch} (${ahead} ahead, ${behind} behind)`
      : ahead
        ? `${ahead} commit(s) ahead of ${remote}/${branch}`
        : `${behind} commit(s) behind ${remote}/${branch}`;
  throw refused(
    `HEAD ${head.slice(0, 7)} is ${state}`,
    `apply deploys exactly what ${remote}/${branch} holds: run \`git pull --ff-only ${remote} ${branch}\` (or push your commits through a pull request) and try again`,
  );
}

export async function addWorktree(dir: string, path: string, commit: string): Promise<void> {
  await git(dir).raw(["worktree", "add", "--detach", path, commit]);
}

export async function removeWorktree(dir: string, path: string): Promise<void> {
  await git(dir).raw(["worktree", "remove", "--force", path]);
}

export async function pruneWorktrees(dir: string): Promise<void> {
  await git(dir).raw(["worktree", "prune"]);
}

/** `text` with the credentials of any URL in it (`https://user:token@host`) masked, for logs and errors. */
export function redactUrls(text: string): string {
  return text.replace(/(\w+:\/\/)[^/@\s]+@/g, "$1***@");
}

/** Clones one branch of `url` into `dir` for the agent, which owns that clone and nothing else. */
export async function cloneBranch(url: string, dir: string, remote: string, branch: string, o: NetworkOptions): Promise<void> {
  try {
    await remoteGit(undefined, o).clone(url, dir, ["--origin", remote, "--branch", branch, "--single-branch"]);
  } catch (err) {
    throw networkError(
      err,
      `cannot clone branch '${branch}' of ${url}`,
      o,
      (message) =>
        new GitopsError(message, "check the URL, the branch name and the git credentials (`git ls-remote <url>` from the agent's host)"),
    );
  }
}

/**
 * Adds `patterns` to the repository's own exclude file (.git/info/exclude, shared by its worktrees)
 * unless they are there: for what a runner puts in a clone it owns (dependencies, local state),
 * whatever the repository's .gitignore says. Status and clean then leave those paths alone.
 */
export async function excludeLocally(dir: string, patterns: string[]): Promise<void> {
  const file = path.resolve(dir, await git(dir).raw(["rev-parse", "--git-path", "info/exclude"]));
  const lines = fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n") : [];
  const missing = patterns.filter((p) => !lines.includes(p));
  if (!missing.length) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const text = lines.join("\n");
  fs.appendFileSync(file, `${text && !text.endsWith("\n") ? "\n" : ""}${missing.join("\n")}\n`);
}

/** The URL of a remote of `dir`, or undefined when it has none by that name. */
export async function remoteUrl(dir: string, remote: string): Promise<string | undefined> {
  const remotes = await git(dir).getRemotes(true);
  return remotes.find((r) => r.name === remote)?.refs.fetch;
}

/**
 * Makes `dir`'s `branch` exactly `commit`, discarding anything else in the working tree but ignored
 * files (dependencies and local state, see excludeLocally). Only for a clone the caller owns.
 */
export async function resetBranchTo(dir: string, branch: string, commit: string): Promise<void> {
  await git(dir).raw(["checkout", "--quiet", "--force", "-B", branch, commit]);
  await git(dir).raw(["clean", "-fdq"]);
}
