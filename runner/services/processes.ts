/** Whether a process still runs on this machine: the one liveness check of the runner and the agent. */
import * as fs from "node:fs";

/**
 * Whether process `pid` runs here; with `command`, whether it is that program, where /proc tells
 * (a pid the kernel gave to another program since is not the process that was meant). A zombie
 * has ended: an engine killed with its runner stays one until an init that may be slow reaps it.
 */
export function processRuns(pid: number, command?: string): boolean {
  if (command !== undefined && fs.existsSync("/proc/self")) {
    try {
      // "pid (comm) state …": comm may hold spaces and parentheses, so the state follows the last ")".
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      return comm === command && state !== "Z" && state !== "X";
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // It runs, under another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
