/**
 * SIGTERM while the agent runs an update, with this project's own program: within the shutdown
 * bound the update finishes; past it the engine is stopped gracefully. Either way the agent exits 0,
 * the stack is consistent (no lock, no pending operation) and a restart finishes the job. A signal
 * that comes before the engine has started starts nothing.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { startAgent } from "../helpers/agent";
import { gitops } from "../helpers/cli";
import { pulumi, resources, tags, record, recordIn } from "../helpers/pulumi";
import { createRepo, git, type TestRepo } from "../helpers/repo";

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

  /** Lock files of the embedded backend in the agent's clone. */
  function locks(): string[] {
    const dir = path.join(clone, ".pulumi-gitops", "state", ".pulumi", "locks");
    return fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".json")) : [];
  }

  /** The updates in the stack's history, newest first, as the raw engine records them. */
  function history(): { kind: string; result: string }[] {
    return JSON.parse(pulumi(clone, "stack", "history", "--json", "--stack", "dev"));
  }

  /** The stack as the raw engine sees it: nothing pending, and the program previews with no changes. */
  async function assertConsistent(): Promise<void> {
    const state = JSON.parse(pulumi(clone, "stack", "export", "--stack", "dev"));
    assert.deepEqual(state.deployment.pending_operations ?? [], []);
    const check = await gitops(clone, "preview", "--stack", "dev", "--detailed-exitcode");
    assert.equal(check.code, 0, `state matches the program: ${check.stderr}`);
  }

  it("past --shutdown-timeout, stops the engine gracefully; a restart applies the commit", async (t) => {
    const head = repo.git("rev-parse", "HEAD");
    const first = await startAgent(t, workDir, [
      "--repo",
      repo.origin,
      "--interval",
      "1s",
      "--drift-interval",
      "0",
      "--shutdown-timeout",
      "0s",
    ]);
    await first.logged(ENGINE_BUSY);
    const stopped = await first.stop("SIGTERM");
    assert.equal(stopped.signal, null);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.notEqual(record(clone, "dev").commit, head, "the interrupted update recorded nothing as deployed");
    // Stopped gracefully: the engine released its lock and left nothing pending.
    assert.deepEqual(locks(), []);
    assert.deepEqual(JSON.parse(pulumi(clone, "stack", "export", "--stack", "dev")).deployment.pending_operations ?? [], []);
    assert.notEqual(history()[0]?.result, "succeeded", "the update did not run to its end");

    const second = await startAgent(t, workDir, ["--repo", repo.origin, "--interval", "1s", "--drift-interval", "0"]);
    await second.waitFor("the restart applied the commit", async () => (await second.status()).stacks[0]?.commit === head);
    assert.equal((await second.stop()).code, 0);
    await assertConsistent();
  });

  it("within --shutdown-timeout, lets the running update finish and records it", async (t) => {
    const head = repo.git("rev-parse", "HEAD");
    const agent = await startAgent(t, workDir, [
      "--repo",
      repo.origin,
      "--interval",
      "1s",
      "--drift-interval",
      "0",
      "--shutdown-timeout",
      "5m",
    ]);
    await agent.logged(ENGINE_BUSY);
    const stopped = await agent.stop("SIGTERM");
    assert.equal(stopped.code, 0, stopped.stderr);
    const recorded = tags(clone, "dev");
    assert.equal(recordIn(recorded).commit, head);
    assert.equal(recordIn(recorded).result, "succeeded");
    assert.deepEqual(
      history().map((u) => [u.kind, u.result]),
      [["update", "succeeded"]],
      "one update, run to its end",
    );
    await assertConsistent();
  });

  it("SIGTERM before the engine has started: nothing starts after it, the agent exits 0", async (t) => {
    // The clone of an earlier run, with a post-checkout hook that holds the agent in its checkout
    // of the commit (before any engine call) until the test has sent the signal.
    git(workDir, "clone", "-q", "--origin", "origin", "--branch", "main", "--single-branch", repo.origin, clone);
    const [inside, release] = [path.join(workDir, "in-checkout"), path.join(workDir, "release")];
    const hook = path.join(clone, ".git", "hooks", "post-checkout");
    fs.writeFileSync(hook, `#!/bin/sh\n: > '${inside}'\nwhile [ ! -e '${release}' ]; do sleep 0.1; done\n`, { mode: 0o755 });
    const agent = await startAgent(t, workDir, [
      "--repo",
      repo.origin,
      "--interval",
      "1s",
      "--drift-interval",
      "0",
      "--shutdown-timeout",
      "5m",
    ]);
    await agent.waitFor("the agent in its checkout", () => fs.existsSync(inside));
    const stopping = agent.stop("SIGTERM");
    await agent.logged(/SIGTERM: taking no more work/);
    fs.writeFileSync(release, "");
    const stopped = await stopping;
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual(resources(clone, "dev"), [], "nothing deployed");
    assert.equal(fs.existsSync(path.join(clone, ".pulumi-gitops", "state", ".pulumi", "stacks")), false, "the engine never ran");
    assert.equal(fs.existsSync(path.join(clone, "node_modules")), false, "not even the dependencies were set up");
  });
});
