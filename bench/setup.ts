/**
 * The benchmark's own set-up (the tests' helpers are theirs to change): scratch repositories built
 * from this project's tracked files as a user's checkout holds them, stack copies of `dev`, and
 * wrappers around `pulumi` and `git` that count the processes each measured command starts.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { engineDir } from "../runner/services/context";

export const PROJECT = path.resolve(__dirname, "..");
export const BIN = path.join(PROJECT, "bin", "gitops");

export const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

/**
 * The bench's scratch root: wrapper `pulumi` (in an engine directory of its own, whose home and
 * language hosts are the real engine's) and `git`, each appending one line per process to the file
 * named by $BENCH_PROCS, and the environment a user's shell would have (no PULUMI_* of the
 * developer's session) with the wrappers in front.
 */
export function benchRoot(): { root: string; env: NodeJS.ProcessEnv } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-bench-"));
  const real = engineDir(process.env);
  const engine = path.join(root, "engine");
  fs.mkdirSync(path.join(engine, "bin"), { recursive: true });
  fs.symlinkSync(path.join(real, "home"), path.join(engine, "home"));
  for (const f of fs.readdirSync(path.join(real, "bin")))
    if (f !== "pulumi") fs.symlinkSync(path.join(real, "bin", f), path.join(engine, "bin", f));
  const wrap = (file: string, name: string, target: string) => {
    fs.writeFileSync(file, `#!/bin/sh\n[ -n "$BENCH_PROCS" ] && echo "${name} $1 $2" >> "$BENCH_PROCS"\nexec ${target} "$@"\n`, {
      mode: 0o755,
    });
  };
  wrap(path.join(engine, "bin", "pulumi"), "pulumi", path.join(real, "bin", "pulumi"));
  fs.mkdirSync(path.join(root, "wrap"));
  wrap(path.join(root, "wrap", "git"), "git", execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim());
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    ["HOME", "XDG_CACHE_HOME", "PULUMI_GITOPS_CACHE", "TMPDIR", "LANG"].flatMap((k) =>
      process.env[k] === undefined ? [] : [[k, process.env[k]]],
    ),
  );
  env.PATH = `${path.join(root, "wrap")}${path.delimiter}${process.env.PATH}`;
  env.PULUMI_GITOPS_ENGINE = engine;
  return { root, env };
}

/**
 * A repository on `main` pushed to a bare `origin` under `root`: this project's tracked files as in
 * its working tree, with `dev` as the only stack, and its node_modules linked.
 */
export function scratchRepo(root: string, name: string): string {
  const dir = path.join(root, name);
  for (const f of git(PROJECT, "ls-files", "-z").split("\0")) {
    const otherStack = /^stacks\/Pulumi\.[^/]+\.ya?ml$/.test(f) && f !== "stacks/Pulumi.dev.yaml";
    if (!f || otherStack || !fs.existsSync(path.join(PROJECT, f))) continue;
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(PROJECT, f), path.join(dir, f));
  }
  fs.symlinkSync(path.join(PROJECT, "node_modules"), path.join(dir, "node_modules"));
  git(root, "init", "-q", "--bare", "-b", "main", `${name}.git`);
  git(dir, "init", "-q", "-b", "main");
  fs.appendFileSync(path.join(dir, ".git", "info", "exclude"), "/node_modules\n/.pulumi-gitops/\n");
  for (const [k, v] of [
    ["user.name", "Bench"],
    ["user.email", "bench@example.invalid"],
    ["commit.gpgsign", "false"],
  ])
    git(dir, "config", k, v);
  commitAll(dir, "initial infrastructure");
  git(dir, "remote", "add", "origin", path.join(root, `${name}.git`));
  git(dir, "push", "-q", "-u", "origin", "main");
  return dir;
}

export function commitAll(dir: string, message: string): void {
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", message);
}

/** Sets the replica count in a stack file: a change every stack copy can be given. */
export function setReplicas(dir: string, stack: string, n: number): void {
  const file = path.join(dir, "stacks", `Pulumi.${stack}.yaml`);
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/replicas: \d+/, `replicas: ${n}`));
}

const STATE = (dir: string) => path.join(dir, ".pulumi-gitops", "state", ".pulumi", "stacks", "pulumi-gitops");

/**
 * Copies of the deployed `dev` stack: the same stack file under another name, and in the embedded
 * backend dev's state and record (its URNs renamed), as if each had been deployed from the same
 * commit. Writing the backend's files directly takes milliseconds where deploying 200 stacks takes
 * a quarter of an hour; the runner and the engine read them as any deployed stack.
 */
export function copyDev(dir: string, names: string[]): void {
  const stackFile = fs.readFileSync(path.join(dir, "stacks", "Pulumi.dev.yaml"), "utf8");
  const state = fs.readFileSync(path.join(STATE(dir), "dev.json"), "utf8");
  const tags = fs.readFileSync(path.join(STATE(dir), "dev.pulumi-tags"), "utf8");
  for (const n of names) {
    fs.writeFileSync(path.join(dir, "stacks", `Pulumi.${n}.yaml`), stackFile);
    fs.writeFileSync(
      path.join(STATE(dir), `${n}.json`),
      state
        .replaceAll("urn:pulumi:dev::", `urn:pulumi:${n}::`)
        .replaceAll("organization/pulumi-gitops/dev", `organization/pulumi-gitops/${n}`),
    );
    fs.writeFileSync(path.join(STATE(dir), `${n}.pulumi-tags`), tags);
  }
}

/** The CPU seconds this process's waited-for children used so far (utime + stime, from /proc). */
export function childCpuSeconds(pid: number | "self" = "self"): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14-17 of stat (utime, stime, cutime, cstime), counted after the command's ")" from field 3.
  const [utime, stime, cutime, cstime] = f.slice(11, 15).map(Number);
  const hz = 100;
  return pid === "self" ? (cutime + cstime) / hz : (utime + stime + cutime + cstime) / hz;
}

/** The resident memory of `pid` and all its descendants, in MiB. */
export function treeRssMiB(pid: number): { self: number; tree: number } {
  const parent = new Map<number, number>();
  const rss = new Map<number, number>();
  for (const p of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(p), Number(f[1]));
      rss.set(Number(p), (Number(f[21]) * 4096) / 2 ** 20);
    } catch {
      // gone meanwhile
    }
  }
  const inTree = (p: number): boolean => p === pid || (p > 1 && parent.has(p) && inTree(parent.get(p)!));
  let tree = 0;
  for (const [p, r] of rss) if (inTree(p)) tree += r;
  return { self: rss.get(pid) ?? 0, tree };
}

/** Samples the tree's memory every 100 ms while `child` runs; the peak, in MiB. */
export function peakTree(child: ChildProcess): () => number {
  let peak = 0;
  const t = setInterval(() => {
    if (child.pid) peak = Math.max(peak, treeRssMiB(child.pid).tree);
  }, 100);
  child.once("exit", () => clearInterval(t));
  return () => peak;
}

export interface Run {
  ms: number;
  /** Engine and git processes the command started. */
  pulumi: number;
  git: number;
  peakMiB?: number;
}

/** Runs `cmd` to completion and measures it; a failure throws with its stderr. */
export async function measure(cmd: string, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv; memory?: boolean }): Promise<Run> {
  const procs = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gitops-bench-procs-")), "procs");
  fs.writeFileSync(procs, "");
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd: o.cwd, env: { ...o.env, BENCH_PROCS: procs }, stdio: ["ignore", "ignore", "pipe"] });
  const peak = o.memory ? peakTree(child) : undefined;
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  const ms = performance.now() - t0;
  const lines = fs.readFileSync(procs, "utf8").split("\n");
  fs.rmSync(path.dirname(procs), { recursive: true, force: true });
  if (code !== 0) throw new Error(`${path.basename(cmd)} ${args.join(" ")} exited ${code}:\n${stderr}`);
  return {
    ms,
    pulumi: lines.filter((l) => l.startsWith("pulumi ")).length,
    git: lines.filter((l) => l.startsWith("git ")).length,
    peakMiB: peak?.(),
  };
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Half the distance between the lowest and the highest, relative to the median: `±x %`. */
export const spread = (xs: number[]) => (xs.length < 2 ? 0 : (Math.max(...xs) - Math.min(...xs)) / 2 / median(xs));
