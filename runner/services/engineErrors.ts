/**
 * Where the engine's errors are read: the stderr of the `pulumi` commands the runner runs becomes
 * the typed errors callers branch on (a held lock with its holders, a missing stack, a missing
 * plugin, a wrong passphrase). Nothing else in the runner looks at the engine's message text.
 */
import { GitopsError, StackLockedError, StackMissingError, type LockHolder } from "../errors";

/** A `pulumi` command that failed; its stderr says why, and an operation's stdout, its diagnostics. */
export class CliError extends Error {
  constructor(
    readonly args: string[],
    readonly stderr: string,
    readonly stdout = "",
  ) {
    super(`pulumi ${args.slice(0, 2).join(" ")} failed: ${stderr.trim()}`);
    this.name = "CliError";
  }
}

/**
 * The holders a DIY backend lists when it refuses its lock, one line per lock file:
 * "  <lock url>: created by <user>@<host> (pid <n>) at <RFC 3339 time>".
 */
function lockHolders(message: string): LockHolder[] {
  return [...message.matchAll(/^\s*(\S+): created by (.*)@([^@\s]+) \(pid (\d+)\) at (\S+)\s*$/gm)].map((m) => ({
    lock: m[1],
    user: m[2],
    host: m[3],
    pid: Number(m[4]),
    since: new Date(m[5]),
  }));
}

/** Maps the engine's failures to errors a user can act on; anything else passes through. */
export function engineError(err: unknown, stack: string): unknown {
  if (err instanceof GitopsError || !(err instanceof CliError)) return err;
  const text = err.stderr;
  // The DIY backends say "the stack is currently locked by"; Pulumi Cloud "Another update is currently in progress".
  if (/currently locked|Another update is currently in progress/.test(text)) return new StackLockedError(stack, lockHolders(text));
  if (/no stack named.*found/.test(text)) return new StackMissingError(stack);
  // A program's diagnostics (a plugin it lacks, a secret it cannot decrypt) are on an operation's stdout.
  const output = `${text}\n${err.stdout}`;
  const plugin = /no resource plugin '(?:pulumi-resource-)?([\w-]+)' found[^\n]*?(v?[\d.]+)?(?:\s|$)/.exec(output);
  if (plugin) {
    const version = /at version v?([\d.]+)/.exec(output)?.[1];
    return new GitopsError(
      `stack ${stack} needs the '${plugin[1]}' resource plugin${version ? " " + version : ""}, which is not installed`,
      `install it on a machine with network access: \`pulumi plugin install resource ${plugin[1]}${version ? " " + version : ""}\` (with PULUMI_HOME set to the runner's home), or disable that target in stacks/Pulumi.${stack}.yaml`,
    );
  }
  if (/incorrect passphrase|passphrase must be set/i.test(output)) {
    return new GitopsError(
      `cannot decrypt the secrets of stack ${stack}`,
      "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the passphrase the stack was created with",
    );
  }
  return err;
}

/** Whether creating or renaming a stack failed because a stack of that name exists. */
export function stackExists(err: unknown): boolean {
  return err instanceof CliError && /stack.*already exists/.test(err.stderr);
}
