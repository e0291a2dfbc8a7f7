/** Runs the gitops CLI in a child process, as a user or CI would, with a clean environment. */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { PROJECT } from "./repo";

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const BIN = path.join(PROJECT, "bin", "gitops");

/** Only what a user's shell would have: no PULUMI_* from the developer's session leaks in. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep = ["PATH", "HOME", "XDG_CACHE_HOME", "PULUMI_GITOPS_CACHE", "PULUMI_GITOPS_ENGINE", "TMPDIR", "LANG"];
  const env: NodeJS.ProcessEnv = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, ...extra };
}

export function startCli(cwd: string, args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

export function gitops(cwd: string, ...args: string[]): Promise<CliResult> {
  return startCli(cwd, args).done;
}
