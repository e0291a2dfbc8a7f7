import { type ConfigProblem, formatProblem } from "../config/load";
import type { PolicyViolation } from "./services/workspace";
/** Exit codes of every gitops command (documented in the README). */
export const ExitCode = {
  ok: 0,
  failure: 1,
  /** Changes present (preview with --detailed-exitcode) or drift found. */
  changes: 2,
  /** Refused by a guard: branch, dirty tree, divergence, pin, lock. */
  refused: 3,
  usage: 64,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * An error the user can fix. The CLI prints its message and hint without a stack trace and exits
 * with its code; anything else that is thrown is a bug and keeps its stack.
 */
export class GitopsError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly exitCode: ExitCode = ExitCode.failure,
  ) {
    super(message);
    this.name = "GitopsError";
  }
}

/** A guard said no (wrong branch, dirty tree, pinned stack, held lock, newer commit running): exit code 3. */
export class RefusedError extends GitopsError {
  constructor(message: string, hint: string) {
    super(message, hint, ExitCode.refused);
    this.name = "RefusedError";
  }
}

export function refused(message: string, hint: string): RefusedError {
  return new RefusedError(message, hint);
}

/** The two lines the CLI prints for an error the user can fix. */
export function formatError(err: GitopsError): string {
  return `error: ${err.message}\nhint: ${err.hint}\n`;
}

export function usageError(message: string, hint: string): GitopsError {
  return new GitopsError(message, hint, ExitCode.usage);
}

/** Who holds a stack's lock, as the DIY backend's lock file names it. */
export interface LockHolder {
  /** The lock file's URL in the backend. */
  lock: string;
  user: string;
  host: string;
  /** The engine process that took the lock, on `host`. */
  pid: number;
  since: Date;
}

/** `pid@host`: how a holder is named on the command line (`gitops unlock --gone`). */
export const holderId = (h: LockHolder): string => `${h.pid}@${h.host}`;

/** Another update holds the stack's lock: exit 3. Callers wait on it or refuse. */
export class StackLockedError extends RefusedError {
  constructor(
    readonly stack: string,
    readonly holders: LockHolder[],
  ) {
    const who = holders.length
      ? holders.map((h) => `created by ${h.user}@${h.host} (pid ${h.pid}) at ${h.since.toISOString()}`).join("; ")
      : "another update is in progress";
    super(
      `stack ${stack} is locked: ${who}`,
      `another runner is updating it: wait for it (or pass --lock-timeout <seconds>); if that process is gone, \`gitops unlock --stack ${stack}\` tells how to clear its lock`,
    );
    this.name = "StackLockedError";
  }
}

/** The backend has no stack of that name: its first apply creates it. */
export class StackMissingError extends GitopsError {
  constructor(readonly stack: string) {
    super(
      `stack ${stack} was not found in the backend`,
      "it is created by the first apply of its stacks/Pulumi.<env>.yaml; check --backend if you expected it to exist",
    );
    this.name = "StackMissingError";
  }
}

/** The run was stopped by a signal before it finished: exit 1, nothing more was started. */
export class StoppedError extends GitopsError {
  constructor(
    readonly signal: string,
    what: string,
  ) {
    super(`stopped by ${signal} ${what}`, "nothing more was started; run the command again to finish the job", ExitCode.failure);
    this.name = "StoppedError";
  }
}

/** Throws a StoppedError when `signal` was aborted (its reason names the signal). */
export function stopIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new StoppedError(typeof signal.reason === "string" ? signal.reason : "a stop request", what);
}

/** The stack already runs a commit that the one being deployed does not contain: exit 3. */
export class StaleCommitError extends RefusedError {
  constructor(
    readonly stack: string,
    readonly commit: string,
    readonly running: string,
  ) {
    super(
      `refusing to deploy ${commit.slice(0, 7)} to ${stack}: it runs ${running.slice(0, 7)}, which ${commit.slice(0, 7)} does not contain (a newer deployment landed meanwhile)`,
      `nothing to do if ${running.slice(0, 7)} is the newer commit; to deploy ${commit.slice(0, 7)} anyway, \`gitops rollback --stack ${stack} --to ${commit.slice(0, 7)}\``,
    );
    this.name = "StaleCommitError";
  }
}

/** The policy pack (policy/) found mandatory violations in what would be deployed: exit 3, nothing deployed. */
export class PolicyViolationError extends RefusedError {
  constructor(
    readonly stack: string,
    readonly commit: string,
    readonly violations: PolicyViolation[],
    /** One line per violation, as the reports write them. */
    lines: string[],
  ) {
    super(
      `refusing to deploy ${commit.slice(0, 7)} to ${stack}: it violates mandatory policies (${[...new Set(violations.map((v) => v.policy))].join(", ")}):\n${lines.map((l) => `  ${l}`).join("\n")}`,
      `fix them in a pull request (\`gitops preview --stack ${stack}\` shows them), or change the policy in policy/ through one`,
    );
    this.name = "PolicyViolationError";
  }
}

/**
 * A file the runner reads (stack files, the runner's rules) is invalid: every problem at once, one
 * `file[:line:col]: key: message` line each. Exit 1; nothing ran.
 */
export class ConfigFileError extends GitopsError {
  constructor(
    what: string,
    readonly problems: readonly ConfigProblem[],
    hint: string,
  ) {
    super(`${what}:\n${problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`, hint);
    this.name = "ConfigFileError";
  }
}

/** What apply would deploy to a stack is not what a reviewed preview showed (or none was reviewed). */
export interface UnreviewedStack {
  stack: string;
  /** The fingerprint of what apply would deploy now: `apply --accept <id>` deploys exactly that. */
  id: string;
  /** The reviewed preview compared with (its commit), when one was found. */
  reviewed?: string;
  /** What differs from it, one item each; empty when no review was found. */
  differences: string[];
}

/**
 * Apply refuses stacks whose reviewed preview does not match what it would deploy now: exit 3,
 * before anything is deployed. The way forward names each fingerprint to accept.
 */
export class UnreviewedChangeError extends RefusedError {
  constructor(
    readonly stacks: UnreviewedStack[],
    protectedBranch: string,
  ) {
    const lines = stacks.map((s) =>
      s.reviewed
        ? `${s.stack}: what it would deploy now (fingerprint ${s.id}) is not what the preview reviewed at ${s.reviewed.slice(0, 7)} showed:\n${s.differences.map((d) => `    - ${d}`).join("\n")}`
        : `${s.stack}: no reviewed preview has these inputs (fingerprint ${s.id}): no pull request's preview showed what it would deploy now`,
    );
    super(
      `refusing to deploy what no one reviewed; nothing was deployed:\n  ${lines.join("\n  ")}`,
      `look at what would be deployed now (\`gitops preview --stack <stack>\` on ${protectedBranch} shows it and the same fingerprint, or this apply's --report/--json), then deploy exactly that with ${stacks.map((s) => `--accept ${s.id}`).join(" ")}, recorded on the stack; or fix it through a pull request whose preview is reviewed`,
    );
    this.name = "UnreviewedChangeError";
  }
}
