/** The raw pulumi CLI against a test repository's embedded backend, to check state independently. */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { DEMO_PASSPHRASE, engineDir } from "../../scripts/core/context";

export const ENGINE_DIR = engineDir(process.env);

export function pulumiEnv(repoDir: string): NodeJS.ProcessEnv {
  return {
    PATH: `${path.join(ENGINE_DIR, "bin")}:${process.env.PATH}`,
    HOME: process.env.HOME,
    PULUMI_HOME: path.join(ENGINE_DIR, "home"),
    PULUMI_BACKEND_URL: `file://${path.join(repoDir, ".pulumi-gitops", "state")}`,
    PULUMI_CONFIG_PASSPHRASE: DEMO_PASSPHRASE,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    GITOPS_ROOT: repoDir,
  };
}

export function pulumi(repoDir: string, ...args: string[]): string {
  return execFileSync(path.join(ENGINE_DIR, "bin", "pulumi"), [...args, "--non-interactive"], { cwd: repoDir, env: pulumiEnv(repoDir), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export function tags(repoDir: string, stack: string): Record<string, string> {
  return JSON.parse(pulumi(repoDir, "stack", "tag", "ls", "--json", "--stack", stack));
}

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
