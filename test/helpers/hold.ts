/**
 * Known points to stop a run at, observable from outside, instead of racing its log: an update of a
 * counter-app stack held open by its hold file, and a `git fetch` held after the remote answered.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ChildProcess } from "node:child_process";
import { atExit } from "../fixtures/proc";
import { git } from "./repo";

export interface Hold {
  /** The path a stack file names as counter-app:holdFile. */
  file: string;
  /** Resolves once the program waits on the hold (the engine holds the stack's lock); rejects if `run` ends first. */
  reached(run?: ChildProcess): Promise<void>;
  release(): void;
  /** Takes the hold back: the next run that names it waits again. */
  reset(): void;
}

async function until(what: string, ready: () => boolean, run?: ChildProcess): Promise<void> {
  while (!ready()) {
    if (run && (run.exitCode !== null || run.signalCode !== null))
      throw new Error(`the run ended (${run.exitCode ?? run.signalCode}) before ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A fresh temporary directory, removed when the test process ends. */
function scratch(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  atExit(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A hold in `dir` (a fresh temporary directory by default). */
export function hold(dir = scratch("gitops-hold-"), name = "release"): Hold {
  const file = path.join(dir, name);
  return {
    file,
    reached: (run) => until(`the program waited on ${file}`, () => fs.existsSync(`${file}.waiting`), run),
    release: () => fs.writeFileSync(file, ""),
    reset: () => {
      for (const f of [file, `${file}.waiting`]) fs.rmSync(f, { force: true });
    },
  };
}

/**
 * Makes every `git fetch` of `repoDir` from its origin stop once the remote has answered (the
 * tip is known), until released: the remote's upload-pack is wrapped, and git waits for it to end.
 */
export function holdFetch(repoDir: string): { reached(run?: ChildProcess): Promise<void>; release(): void } {
  const dir = scratch("gitops-fetch-hold-");
  const [mark, release, script] = ["fetched", "release", "upload-pack.sh"].map((f) => path.join(dir, f));
  fs.writeFileSync(
    script,
    `#!/bin/sh\ngit upload-pack "$@"\nrc=$?\ntouch '${mark}'\nwhile [ ! -e '${release}' ]; do sleep 0.1; done\nexit $rc\n`,
    { mode: 0o755 },
  );
  git(repoDir, "config", "remote.origin.uploadpack", script);
  return {
    reached: (run) => until("a fetch from origin", () => fs.existsSync(mark), run),
    release: () => {
      fs.writeFileSync(release, "");
      git(repoDir, "config", "--unset", "remote.origin.uploadpack");
    },
  };
}

/** The lock files of every stack in a file backend's directory. */
export function lockFiles(stateDir: string): string[] {
  const root = path.join(stateDir, ".pulumi", "locks");
  return fs.existsSync(root) ? fs.readdirSync(root, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".json")) : [];
}

/** The pid of the `pulumi` engine process a runner started (its child). */
export function enginePid(runner: number): number {
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === runner && stat.includes("(pulumi)")) return Number(entry);
    } catch {
      /* gone meanwhile */
    }
  }
  throw new Error(`runner ${runner} has no pulumi child`);
}

/** Whether a process runs (zombies count as gone). */
export function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Resolves once `run` has printed a line matching `re` on stderr: a point it has reached. */
export function printed(run: ChildProcess, re: RegExp): Promise<void> {
  let seen = "";
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      seen += String(d);
      if (re.test(seen)) {
        run.stderr!.off("data", onData);
        resolve();
      }
    };
    run.stderr!.on("data", onData);
    run.once("close", (code) => reject(new Error(`the run ended (${code}) before printing ${re}:\n${seen}`)));
  });
}
