/** Interruption: SIGTERM stops the engine gracefully; a crash's stale lock and pending operations are resolved next time. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { afterEach, beforeEach, describe, it } from "node:test";
import { killProcessesUnder } from "../fixtures/proc";
import { gitops, startCli, type CliResult } from "../helpers/cli";
import { pulumi, resources } from "../helpers/pulumi";
import { createRepo, type TestRepo } from "../helpers/repo";

/** Starts `gitops apply` and calls `interrupt` once the engine has begun creating resources. */
function applyAndInterrupt(repo: TestRepo, interrupt: (runnerPid: number) => void): Promise<CliResult> {
  const run = startCli(repo.dir, ["apply"]);
  let sent = false;
  run.child.stderr!.on("data", (d) => {
    if (!sent && /\] create kubernetes:/.test(String(d))) {
      sent = true;
      interrupt(run.child.pid!);
    }
  });
  return run.done;
}

const pendingOperations = (repo: TestRepo) => JSON.parse(pulumi(repo.dir, "stack", "export", "--stack", "dev")).deployment.pending_operations ?? [];

describe("interruption", () => {
  let repo: TestRepo;
  beforeEach(() => (repo = createRepo(["dev"])));
  afterEach(() => repo.remove());

  it("SIGTERM mid-update stops the engine gracefully, releases the lock, and a rerun finishes the job", async () => {
    const first = await applyAndInterrupt(repo, (pid) => process.kill(pid, "SIGTERM"));
    assert.equal(first.signal, null, "the runner was not killed by the signal: it stopped the engine and exited");
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /SIGTERM: stopping the engine gracefully/);
    const second = await gitops(repo.dir, "apply");
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stderr, /locked/);
    assert.deepEqual(pendingOperations(repo), []);
    const check = await gitops(repo.dir, "preview", "--stack", "dev", "--detailed-exitcode");
    assert.equal(check.code, 0, `state matches the program: ${check.stderr}`);
  });

  it("after a crash (runner and engine killed), the next apply clears the stale lock and pending operations", async () => {
    const first = await applyAndInterrupt(repo, (pid) => {
      const engine = execFileSync("pgrep", ["-P", String(pid), "-x", "pulumi"], { encoding: "utf8" }).trim().split("\n").map(Number);
      for (const p of engine) process.kill(p, "SIGKILL");
      process.kill(pid, "SIGKILL");
      // A crash takes the plugins too; they run in process groups of their own, found by directory.
      killProcessesUnder(repo.dir);
    });
    assert.equal(first.signal, "SIGKILL");
    const second = await gitops(repo.dir, "apply");
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /clearing a stale lock left by process \d+, which is no longer running/);
    assert.deepEqual(pendingOperations(repo), []);
    const urns = resources(repo.dir, "dev");
    assert.equal(new Set(urns).size, urns.length);
    const check = await gitops(repo.dir, "preview", "--stack", "dev", "--detailed-exitcode");
    assert.equal(check.code, 0, `state matches the program: ${check.stderr}`);
  });
});
