/**
 * SIGTERM while the agent runs an update, with this project's own program: within the shutdown
 * bound the update finishes; past it the engine is stopped gracefully. Either way the agent exits 0,
 * the stack is consistent (no lock, no pending operation) and a restart finishes the job.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { startAgent } from "../helpers/agent";
import { gitops } from "../helpers/cli";
import { pulumi, tags } from "../helpers/pulumi";
import { createRepo, type TestRepo } from "../helpers/repo";

const ENGINE_BUSY = /\] create kubernetes:/;

describe("agent shutdown", () => {
  let repo: TestRepo;
  let workDir: string;
  let clone: string;
  beforeEach(() => {
    repo = createRepo(["dev"]);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-agent-stop-"));
    clone = path.join(workDir, "repo");
  });
  afterEach(() => {
    repo.remove();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  /** The stack as the raw engine sees it: nothing pending, and the program previews with no changes. */
  async function assertConsistent(): Promise<void> {
    const state = JSON.parse(pulumi(clone, "stack", "export", "--stack", "dev"));
    assert.deepEqual(state.deployment.pending_operations ?? [], []);
    const check = await gitops(clone, "preview", "--stack", "dev", "--detailed-exitcode");
    assert.equal(check.code, 0, `state matches the program: ${check.stderr}`);
  }

  it("past --shutdown-timeout, stops the engine gracefully; a restart applies the commit", async (t) => {
    const head = repo.git("rev-parse", "HEAD");
    const first = await startAgent(t, workDir, ["--repo", repo.origin, "--interval", "1s", "--drift-interval", "0", "--shutdown-timeout", "0s"]);
    await first.logged(ENGINE_BUSY);
    const stopped = await first.stop("SIGTERM");
    assert.equal(stopped.signal, null);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, /stopping the engine gracefully/);
    assert.match(stopped.stderr, /was stopped by the shutdown; the next start applies it again/);
    assert.notEqual(tags(clone, "dev")["gitops:commit"], head, "the interrupted update recorded nothing as deployed");

    const second = await startAgent(t, workDir, ["--repo", repo.origin, "--interval", "1s", "--drift-interval", "0"]);
    await second.waitFor("the restart applied the commit", async () => (await second.status()).stacks[0]?.commit === head);
    assert.doesNotMatch(second.output(), /locked/);
    assert.equal((await second.stop()).code, 0);
    await assertConsistent();
  });

  it("within --shutdown-timeout, lets the running update finish and records it", async (t) => {
    const head = repo.git("rev-parse", "HEAD");
    const agent = await startAgent(t, workDir, ["--repo", repo.origin, "--interval", "1s", "--drift-interval", "0", "--shutdown-timeout", "5m"]);
    await agent.logged(ENGINE_BUSY);
    const stopped = await agent.stop("SIGTERM");
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, /waiting up to 5m for the running sync to finish/);
    assert.doesNotMatch(stopped.stderr, /stopping the engine/);
    const recorded = tags(clone, "dev");
    assert.equal(recorded["gitops:commit"], head);
    assert.equal(recorded["gitops:result"], "succeeded");
    await assertConsistent();
  });
});
