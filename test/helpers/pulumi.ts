/** The raw pulumi CLI against a test repository's embedded backend, to check state independently. */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { compileCacheDir } from "../../runner/services/caches";
import { DEMO_PASSPHRASE, engineDir } from "../../runner/services/context";
import { engineEnv, type EngineSettings } from "../../runner/services/engine";

export const ENGINE_DIR = engineDir(process.env);

/** The runner's engine settings for a repository, by default on its embedded backend. */
export function testEngineSettings(
  root: string,
  backendUrl = `file://${path.join(root, ".pulumi-gitops", "state")}`,
  passphrase = DEMO_PASSPHRASE,
): EngineSettings {
  return {
    engineDir: ENGINE_DIR,
    pulumiHome: path.join(ENGINE_DIR, "home"),
    backendUrl,
    passphrase,
    root,
    inheritedPath: process.env.PATH ?? "",
    compileCache: compileCacheDir(process.env),
  };
}

/** Exactly the environment the runner gives the engine, for running the raw CLI beside it. */
export function pulumiEnv(repoDir: string): NodeJS.ProcessEnv {
  return { HOME: process.env.HOME, ...engineEnv(testEngineSettings(repoDir)) };
}

export function pulumi(repoDir: string, ...args: string[]): string {
  return execFileSync(path.join(ENGINE_DIR, "bin", "pulumi"), [...args, "--non-interactive"], {
    cwd: repoDir,
    env: pulumiEnv(repoDir),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export function tags(repoDir: string, stack: string): Record<string, string> {
  return JSON.parse(pulumi(repoDir, "stack", "tag", "ls", "--json", "--stack", stack));
}

/** The deployment record gitops keeps among a stack's tags: the JSON of its `gitops:record` tag. */
export function recordIn(t: Record<string, string>): { commit?: string; command?: string; time?: string; result?: string } {
  return t["gitops:record"] === undefined ? {} : JSON.parse(t["gitops:record"]);
}

export const record = (repoDir: string, stack: string) => recordIn(tags(repoDir, stack));

/** The URNs of the resources in a stack's state (none when the stack does not exist). */
export function resources(repoDir: string, stack: string): string[] {
  let state: { deployment?: { resources?: { urn: string }[] } };
  try {
    state = JSON.parse(pulumi(repoDir, "stack", "export", "--stack", stack));
  } catch {
    return [];
  }
  return (state.deployment?.resources ?? []).map((r) => r.urn);
}

/**
 * The real engine behind a `pulumi` that first writes its arguments to `log`: an engine directory
 * whose home and language hosts are the real engine's. Each call is one line: `stack tag ls --json --stack dev --non-interactive`.
 */
export function loggingEngine(dir: string, log: string): string {
  fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
  fs.symlinkSync(path.join(ENGINE_DIR, "home"), path.join(dir, "home"));
  for (const f of fs.readdirSync(path.join(ENGINE_DIR, "bin")))
    if (f !== "pulumi") fs.symlinkSync(path.join(ENGINE_DIR, "bin", f), path.join(dir, "bin", f));
  fs.writeFileSync(
    path.join(dir, "bin", "pulumi"),
    `#!/bin/sh\necho "$*" >> '${log}'\nexec '${path.join(ENGINE_DIR, "bin", "pulumi")}' "$@"\n`,
    {
      mode: 0o755,
    },
  );
  return dir;
}
