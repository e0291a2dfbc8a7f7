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

/** A guard said no (wrong branch, dirty tree, pinned stack, held lock): exit code 3. */
export function refused(message: string, hint: string): GitopsError {
  return new GitopsError(message, hint, ExitCode.refused);
}

/** The two lines the CLI prints for an error the user can fix. */
export function formatError(err: GitopsError): string {
  return `error: ${err.message}\nhint: ${err.hint}\n`;
}

export function usageError(message: string, hint: string): GitopsError {
  return new GitopsError(message, hint, ExitCode.usage);
}
