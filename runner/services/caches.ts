/**
 * Where the runner keeps what it can make again, outside any repository: the engine directories
 * (provision/pulumi-engine.sh, by the same rule as provision/lib.sh) and Node's compile cache.
 * Nothing here may import more than node's own modules: bin/gitops loads it before the CLI.
 */
import * as os from "node:os";
import * as path from "node:path";

/** PULUMI_GITOPS_CACHE, else $XDG_CACHE_HOME/pulumi-gitops, else ~/.cache/pulumi-gitops. */
export function cacheRoot(env: NodeJS.ProcessEnv): string {
  return env.PULUMI_GITOPS_CACHE || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "pulumi-gitops");
}

/**
 * Node's compile cache (V8's code for each module, keyed by its path and content) for the runner and
 * for the engine's Node processes, the program and the policy pack: compiling the SDKs' and
 * TypeScript's JavaScript again on every run took about 1 CPU-s of each preview. NODE_COMPILE_CACHE
 * names another directory.
 */
export function compileCacheDir(env: NodeJS.ProcessEnv): string {
  return env.NODE_COMPILE_CACHE || path.join(cacheRoot(env), "node-compile-cache");
}
