/**
 * A stack's lock, as the DIY backend (file, S3…) keeps it: one file per holder, naming the user,
 * host and pid of the engine that took it. Nothing here breaks a lock a live process may hold.
 */
import * as os from "node:os";
import type { Context } from "./context";
import { engineError, stackExists } from "./engineErrors";
import { processRuns } from "./processes";
import { openStack, type Stack } from "./engine";
import { holderId, refused, StackLockedError, type LockHolder } from "../errors";
import { discoverStacks, selectStacks } from "./stacks";

/**
 * Who holds the stack's lock now (none when it is free), read by the engine itself: renaming a
 * stack to its own name takes its lock first (which lists every holder when it is taken), then
 * fails because the name exists, and changes nothing. While it runs, it holds the lock for a moment.
 */
export async function lockHolders(stack: Stack): Promise<LockHolder[]> {
  try {
    await stack.cli(["stack", "rename", stack.name]);
  } catch (err) {
    if (stackExists(err)) return [];
    const mapped = engineError(err, stack.name);
    if (mapped instanceof StackLockedError) return mapped.holders;
    throw mapped;
  }
  throw new Error(`renaming stack ${stack.name} to its own name succeeded; it is meant to fail after taking the lock`);
}

/** Whether `h` is an engine process running on this machine: its pid names a `pulumi` here (any process where /proc is missing). */
export function runsHere(h: LockHolder): boolean {
  return h.host === os.hostname() && processRuns(h.pid, "pulumi");
}

const age = (since: Date, now: Date): string => {
  const s = Math.max(0, Math.round((now.getTime() - since.getTime()) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}min` : `${Math.round(s / 3600)}h`;
};

const describe = (h: LockHolder, now: Date) => `${holderId(h)} (${h.user}, pid ${h.pid} on ${h.host}, locked ${age(h.since, now)} ago)`;

/**
 * Clears the stack's lock when every holder it has now is acknowledged as gone (`gone`: `pid@host`
 * ids) and none of them runs on this machine. A host name and a pid cannot prove a process dead
 * (containers share host names, each with its own pids), so the user must say so; the holders are
 * read again here, just before the clear, so an id confirmed earlier never clears a lock someone
 * else has taken since. The engine's `cancel` removes every lock file of the stack, but while a
 * confirmed holder's file is there, any other runner that writes its own lock file sees that one
 * and withdraws: the only lock `cancel` could take away is one written during `cancel` itself.
 */
export async function unlock(ctx: Context, name: string, gone: string[]): Promise<LockHolder[]> {
  selectStacks(discoverStacks(ctx.repo, ctx.rules), [name]);
  const stack = openStack(ctx.engine, ctx.repo, name, false);
  const holders = await lockHolders(stack);
  if (!holders.length) return [];
  const now = ctx.now();
  const alive = holders.filter(runsHere);
  if (alive.length) {
    throw refused(
      `stack ${name} is locked by a process that is running on this machine: ${alive.map((h) => describe(h, now)).join("; ")}`,
      `wait for it to finish, or stop it (Ctrl-C, or \`kill -TERM ${alive[0].pid}\`) and let it release the lock; unlock clears only the locks of processes that are gone`,
    );
  }
  const unconfirmed = holders.filter((h) => !gone.includes(holderId(h)));
  if (unconfirmed.length) {
    const ids = holders.map((h) => `--gone ${holderId(h)}`).join(" ");
    throw refused(
      `stack ${name} is locked by ${unconfirmed.map((h) => describe(h, now)).join("; ")}, which may still be running`,
      `a host name and a pid cannot prove that a process on another machine or container has ended: make sure it has (on ${unconfirmed[0].host}: \`ps -p ${unconfirmed[0].pid}\`, or its CI job is over), then run \`gitops unlock --stack ${name} ${ids}\``,
    );
  }
  await stack.cancel();
  return holders;
}
