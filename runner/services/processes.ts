/** Whether a process still runs on this machine: the one liveness check of the runner and the agent. */
import * as fs from "node:fs";

/**
 * Whether process `pid` runs here; with `command`, whether it is that program, where /proc tells
 * (a pid the kernel gave to another program since is not the process that was meant).
 */
export function processRuns(pid: number, command?: string): boolean {
  if (command !== undefined && fs.existsSync("/proc/self")) {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === command;
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
