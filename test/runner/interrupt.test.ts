/**
 * Interruption, stopped at known points observable from outside (a held fetch, a held update),
 * never by racing the log: a stop signal starts nothing more, stops the engine gracefully and
 * releases the lock; a second one exits at once; a crash leaves a lock that only a confirmed unlock clears.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, it } from "node:test";
import { killProcessesUnder } from "../fixtures/proc";
import { gitops, startCli } from "../helpers/cli";
import { alive, enginePid, hold, holdFetch, lockFiles, printed } from "../helpers/hold";
import { pulumi, resources } from "../helpers/pulumi";
import { createCounterRepo, createRepo, type TestRepo } from "../helpers/repo";

const state = (repo: TestRepo) => path.join(repo.dir, ".pulumi-gitops", "state");
const history = (repo: TestRepo, stack: string) =>
  JSON.parse(pulumi(repo.dir, "stack", "history", "--json", "--stack", stack)) as { result: string }[];

describe("interruption", () => {
  let repo: TestRepo;
  afterEach(() => {
    killProcessesUnder(repo.dir);
    repo.remove();
  });

  it("SIGTERM before the engine started: nothing is deployed and the run fails", async () => {
    repo = createRepo(["dev"]);
    const fetch = holdFetch(repo.dir);
    const run = startCli(repo.dir, ["apply"], { GITOPS_GIT_TIMEOUT: "1h" });
    await fetch.reached(run.child);
    run.child.kill("SIGTERM");
    fetch.release();
    const r = await run.done;
    assert.equal(r.signal, null);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: stopped by SIGTERM before any stack was deployed\nhint: /m);
    assert.deepEqual(resources(repo.dir, "dev"), [], "no resource in the state");
    assert.equal(fs.existsSync(path.join(repo.dir, "rendered")), false, "no manifest rendered");
  });

  it("SIGTERM mid-update stops the engine, starts no further stack, releases the lock; a rerun finishes", async () => {
    const h = hold();
    repo = createCounterRepo({ dev: { count: 2, version: "one", holdFile: h.file }, staging: { count: 2, version: "one" } });
    const run = startCli(repo.dir, ["apply"]);
    await h.reached(run.child);
    assert.equal(lockFiles(state(repo)).length, 1, "the update holds the lock");
    run.child.kill("SIGTERM");
    h.release();
    const r = await run.done;
    assert.equal(r.signal, null, "the runner stopped the engine and exited, it was not killed");
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(lockFiles(state(repo)), [], "the lock is released");
    assert.deepEqual(resources(repo.dir, "staging"), [], "staging was not started");
    const again = await gitops(repo.dir, "apply");
    assert.equal(again.code, 0, again.stderr);
    for (const s of ["dev", "staging"]) assert.equal(resources(repo.dir, s).filter((u) => u.includes("counter:index:Item")).length, 2, s);
  });

  it("a second signal exits at once, without waiting for the engine", async () => {
    const h = hold();
    repo = createCounterRepo({ dev: { count: 1, version: "one", holdFile: h.file } });
    const run = startCli(repo.dir, ["apply"]);
    await h.reached(run.child);
    const engine = enginePid(run.child.pid!);
    const first = printed(run.child, /SIGTERM: stopping gracefully/);
    run.child.kill("SIGTERM");
    // Two signals sent at once are one pending signal to the kernel: the second follows the first's handling.
    await first;
    // The engine winds down from the first signal on its own time; what counts is that it still runs
    // when the second signal arrives, and that the runner then exits with that signal's code (143),
    // not with the graceful stop's 1, which it would reach only after the engine ended.
    assert.ok(alive(engine), "the engine was still running when the second signal was sent");
    run.child.kill("SIGTERM");
    const r = await run.done;
    assert.equal(r.code, 143, r.stderr);
    h.release();
  });

  it("after a crash, the lock names the dead runner; apply refuses until unlock is told it is gone", async () => {
    const h = hold();
    repo = createCounterRepo({ dev: { count: 2, version: "one", holdFile: h.file } });
    const run = startCli(repo.dir, ["apply"]);
    await h.reached(run.child);
    const engine = enginePid(run.child.pid!);
    process.kill(engine, "SIGKILL");
    run.child.kill("SIGKILL");
    // A crash takes the language host and plugins too; they run in process groups of their own.
    killProcessesUnder(repo.dir);
    await run.done;
    const [lock] = lockFiles(state(repo));
    assert.ok(lock, "the crashed update left its lock");

    const refused = await gitops(repo.dir, "apply");
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, new RegExp(`^error: stack dev is locked: created by \\S+@${os.hostname()} \\(pid ${engine}\\)`, "m"));
    assert.deepEqual(lockFiles(state(repo)), [lock], "apply broke no lock");

    const ask = await gitops(repo.dir, "unlock", "--stack", "dev");
    assert.equal(ask.code, 3, ask.stderr);
    assert.match(ask.stderr, new RegExp(`hint: .*gitops unlock --stack dev --gone ${engine}@${os.hostname()}`));
    assert.deepEqual(lockFiles(state(repo)), [lock]);
    // --gone vouches for the holders it names, and only for them.
    const wrong = [`${engine + 1}@${os.hostname()}`, `${engine}@elsewhere`].flatMap((id) => ["--gone", id]);
    const others = await gitops(repo.dir, "unlock", "--stack", "dev", ...wrong);
    assert.equal(others.code, 3, others.stderr);
    assert.match(
      others.stderr,
      new RegExp(`^error: stack dev is locked by ${engine}@${os.hostname()} \\(.*\\), which may still be running$`, "m"),
    );
    assert.deepEqual(lockFiles(state(repo)), [lock]);
    const cleared = await gitops(repo.dir, "unlock", "--stack", "dev", "--gone", `${engine}@${os.hostname()}`);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.deepEqual(lockFiles(state(repo)), []);

    h.release();
    const again = await gitops(repo.dir, "apply");
    assert.equal(again.code, 0, again.stderr);
    assert.equal(resources(repo.dir, "dev").filter((u) => u.includes("counter:index:Item")).length, 2);
    assert.equal(history(repo, "dev")[0].result, "succeeded");
  });

  it("unlock refuses while the holder runs, even when told it is gone, and the holder finishes", async () => {
    const h = hold();
    repo = createCounterRepo({ dev: { count: 1, version: "one", holdFile: h.file } });
    const run = startCli(repo.dir, ["apply"]);
    await h.reached(run.child);
    const engine = enginePid(run.child.pid!);
    const [lock] = lockFiles(state(repo));
    for (const args of [[], ["--gone", `${engine}@${os.hostname()}`]]) {
      const r = await gitops(repo.dir, "unlock", "--stack", "dev", ...args);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, new RegExp(`^error: stack dev is locked by (a process that is running on this machine: )?${engine}@`, "m"));
      assert.deepEqual(lockFiles(state(repo)), [lock], "the live lock is intact");
    }
    h.release();
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(history(repo, "dev").length, 1);
  });
});
