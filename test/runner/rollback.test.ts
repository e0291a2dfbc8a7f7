/** gitops rollback deploys an old commit exactly, from a temporary checkout, and pins the stack. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { killProcessesUnder } from "../fixtures/proc";
import { gitops, startCli } from "../helpers/cli";
import { hold } from "../helpers/hold";
import { loggingEngine, pulumi, tags, record, recordIn } from "../helpers/pulumi";
import { counterStackYaml, createCounterRepo, createRepo, type TestRepo } from "../helpers/repo";

const manifestDir = (repo: TestRepo) => path.join(repo.dir, "rendered", "dev", "1-manifest");
/** Every rendered manifest of dev, by file name: what the "cluster" would run. */
function rendered(repo: TestRepo): Record<string, string> {
  const dir = manifestDir(repo);
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(dir, f), "utf8")]),
  );
}
const outputs = (repo: TestRepo) => JSON.parse(pulumi(repo.dir, "stack", "output", "--json", "--stack", "dev"));
const worktrees = (repo: TestRepo) =>
  repo
    .git("worktree", "list", "--porcelain")
    .split("\n")
    .filter((l) => l.startsWith("worktree ")).length;

describe("gitops rollback", () => {
  let repo: TestRepo;
  let a: string;
  let manifestsA: Record<string, string>;
  let outputsA: unknown;
  before(async () => {
    repo = createRepo(["dev"]);
    a = repo.git("rev-parse", "HEAD");
    const r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 0, r.stderr);
    manifestsA = rendered(repo);
    outputsA = outputs(repo);
  });
  after(() => repo.remove());

  it("rolls back to the previous commit: same manifests and outputs as then, stack pinned", async () => {
    repo.write(
      "stacks/Pulumi.dev.yaml",
      repo
        .read("stacks/Pulumi.dev.yaml")
        .replace(/tag: \S+/, "tag: 2.0.0")
        .replace("replicas: 1", "replicas: 2"),
    );
    const b = repo.commit("release 2.0.0 with 2 replicas");
    repo.git("push", "-q", "origin", "main");
    assert.equal((await gitops(repo.dir, "apply")).code, 0);
    assert.notDeepEqual(rendered(repo), manifestsA);
    assert.equal(record(repo.dir, "dev").commit, b);

    const log = path.join(repo.dir, "..", "engine.log");
    const engine = loggingEngine(path.join(repo.dir, "..", "engine"), log);
    const r = await startCli(repo.dir, ["rollback", "--stack", "dev", "--to", "previous", "--yes"], { PULUMI_GITOPS_ENGINE: engine }).done;
    assert.equal(r.code, 0, r.stderr);
    // Under --yes no confirmation preview: the update is the only run of the program.
    const runs = fs
      .readFileSync(log, "utf8")
      .split("\n")
      .filter((c) => /^(preview|up|refresh)\b/.test(c));
    assert.deepEqual(
      runs.map((c) => c.split(" ")[0]),
      ["up"],
    );
    assert.match(r.stderr, /same lockfile: reusing node_modules/);
    assert.match(
      r.stderr,
      /to make main declare what now runs: git restore --source=[0-9a-f]{7} --staged --worktree -- stacks\/Pulumi\.dev\.yaml && git commit/,
    );
    assert.deepEqual(rendered(repo), manifestsA);
    assert.deepEqual(outputs(repo), outputsA);
    const t = tags(repo.dir, "dev");
    assert.equal(recordIn(t).commit, a);
    assert.equal(t["gitops:pin"], a);
    assert.equal(recordIn(t).command, "rollback");
    assert.equal(repo.git("rev-parse", "HEAD"), b, "the user's checkout did not move");
    assert.equal(repo.git("status", "--porcelain"), "");
    assert.equal(worktrees(repo), 1, "the temporary worktree is gone");
    const status = JSON.parse((await gitops(repo.dir, "status", "--json")).stdout);
    assert.equal(status[0].pin, a);
  });

  it("keeps the pin through apply until unpin, then apply brings main", async () => {
    repo.write("stacks/Pulumi.dev.yaml", repo.read("stacks/Pulumi.dev.yaml").replace("replicas: 2", "replicas: 3"));
    const c = repo.commit("three replicas");
    repo.git("push", "-q", "origin", "main");
    const skipped = await gitops(repo.dir, "apply");
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.match(skipped.stderr, /dev: skip, pinned to [0-9a-f]{7} by a rollback; `gitops unpin --stack dev`/);
    assert.deepEqual(rendered(repo), manifestsA);
    const u = await gitops(repo.dir, "unpin", "--stack", "dev");
    assert.equal(u.code, 0, u.stderr);
    assert.equal(tags(repo.dir, "dev")["gitops:pin"], undefined);
    assert.equal((await gitops(repo.dir, "apply")).code, 0);
    assert.equal(record(repo.dir, "dev").commit, c);
    const deployment = Object.entries(rendered(repo)).find(([f]) => f.includes("deployment"))![1];
    assert.match(deployment, /replicas: 3/);
  });

  it("refuses a commit that main does not contain, and asks for --yes without a terminal", async () => {
    repo.git("checkout", "-q", "-b", "unmerged");
    repo.write("stacks/Pulumi.dev.yaml", repo.read("stacks/Pulumi.dev.yaml").replace("replicas: 3", "replicas: 5"));
    const unmerged = repo.commit("never merged");
    repo.git("checkout", "-q", "main");
    const before = tags(repo.dir, "dev");
    const r = await gitops(repo.dir, "rollback", "--stack", "dev", "--to", unmerged, "--yes");
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error: commit [0-9a-f]{7} is not on main\nhint: /);
    const noTty = await gitops(repo.dir, "rollback", "--stack", "dev", "--to", a);
    assert.equal(noTty.code, 3);
    assert.match(noTty.stderr, /asks for confirmation after its preview, and there is no terminal/);
    assert.deepEqual(tags(repo.dir, "dev"), before, "nothing was deployed or recorded");
    assert.equal(worktrees(repo), 1);
  });

  it("checks main's real tip: a commit only on a stale local tracking ref is refused", async () => {
    repo.git("checkout", "-q", "-b", "local-only");
    repo.write("stacks/Pulumi.dev.yaml", repo.read("stacks/Pulumi.dev.yaml").replace("replicas: 3", "replicas: 7"));
    const local = repo.commit("only in this clone");
    repo.git("checkout", "-q", "main");
    // This clone believes origin/main has it; origin does not.
    repo.git("update-ref", "refs/remotes/origin/main", local);
    const before = tags(repo.dir, "dev");
    const r = await gitops(repo.dir, "rollback", "--stack", "dev", "--to", local, "--yes");
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`error: commit ${local.slice(0, 7)} is not on main\\nhint: `));
    assert.deepEqual(tags(repo.dir, "dev"), before, "nothing was deployed or recorded");
    assert.equal(
      repo.git("rev-parse", "refs/remotes/origin/main"),
      repo.git("ls-remote", "origin", "refs/heads/main").split("\t")[0],
      "the tracking ref was fetched",
    );
  });

  it("installs the dependencies of a commit whose lockfile differs", async () => {
    const pkg = JSON.parse(repo.read("package.json"));
    const lock = JSON.parse(repo.read("package-lock.json"));
    pkg.version = lock.version = lock.packages[""].version = "0.1.1";
    repo.write("package.json", JSON.stringify(pkg, null, 2) + "\n");
    repo.write("package-lock.json", JSON.stringify(lock, null, 2) + "\n");
    const d = repo.commit("bump the package version");
    repo.git("push", "-q", "origin", "main");
    assert.equal((await gitops(repo.dir, "apply")).code, 0);
    const r = await gitops(repo.dir, "rollback", "--stack", "dev", "--to", a, "--yes");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /lockfile differs from the one in .*: installing the dependencies of .* \(npm ci\)/);
    assert.equal(tags(repo.dir, "dev")["gitops:pin"], a);
    assert.deepEqual(rendered(repo), manifestsA);
    assert.equal(worktrees(repo), 1);
    assert.notEqual(d, a);
  });

  it("suggests a git command that restores only what the stack depends on, not everything since", async () => {
    repo.write("README.md", repo.read("README.md") + "\nA note that is not infrastructure.\n");
    repo.commit("docs");
    repo.git("push", "-q", "origin", "main");
    assert.equal((await gitops(repo.dir, "unpin", "--stack", "dev")).code, 0);
    assert.equal((await gitops(repo.dir, "apply")).code, 0);
    const r = await gitops(repo.dir, "rollback", "--stack", "dev", "--to", a, "--yes");
    assert.equal(r.code, 0, r.stderr);
    const hint = /to make main declare what now runs: (.*)$/m.exec(r.stderr)?.[1];
    assert.ok(hint, r.stderr);
    execFileSync("bash", ["-c", hint], { cwd: repo.dir, stdio: "pipe" });
    assert.deepEqual(
      repo.git("diff", "--name-only", a, "HEAD").split("\n"),
      ["README.md"],
      "main now declares a for dev, and keeps the docs",
    );
    repo.git("reset", "-q", "--hard", "origin/main"); // the suggested commit was for the user to push
  });

  it("--force deploys a commit main does not contain, recorded; apply --force then brings main over the pin", async () => {
    repo.git("checkout", "-q", "-b", "hotfix");
    repo.write("stacks/Pulumi.dev.yaml", repo.read("stacks/Pulumi.dev.yaml").replace(/replicas: \d+/, "replicas: 6"));
    const hotfix = repo.commit("unmerged hotfix");
    repo.git("checkout", "-q", "main");
    const main = repo.git("rev-parse", "HEAD");
    const r = await gitops(repo.dir, "rollback", "--stack", "dev", "--to", hotfix, "--yes", "--force");
    assert.equal(r.code, 0, r.stderr);
    let t = tags(repo.dir, "dev");
    assert.equal(recordIn(t).commit, hotfix);
    assert.equal(t["gitops:pin"], hotfix);
    assert.match(t["gitops:forced"], new RegExp(`rollback to ${hotfix} not on main`));
    assert.match(Object.entries(rendered(repo)).find(([f]) => f.includes("deployment"))![1], /replicas: 6/);

    const pinned = await gitops(repo.dir, "apply");
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.equal(record(repo.dir, "dev").commit, hotfix, "apply skips the pinned stack");
    const forced = await gitops(repo.dir, "apply", "--force");
    assert.equal(forced.code, 0, forced.stderr);
    t = tags(repo.dir, "dev");
    assert.equal(recordIn(t).commit, main);
    assert.match(t["gitops:forced"], new RegExp(`^${main} at `));
  });
});

describe("rollback interrupted", () => {
  let repo: TestRepo;
  after(() => {
    killProcessesUnder(repo.dir);
    repo.remove();
  });

  it("Ctrl-C during the preview: nothing deployed, the temporary worktree removed", { timeout: 600_000 }, async () => {
    const h = hold();
    h.release();
    repo = createCounterRepo({ dev: { count: 1, version: "a", holdFile: h.file } });
    const a = repo.git("rev-parse", "HEAD");
    assert.equal((await gitops(repo.dir, "apply")).code, 0);
    repo.write("stacks/Pulumi.dev.yaml", counterStackYaml({ count: 2, version: "b" }));
    const b = repo.commit("b");
    repo.git("push", "-q", "origin", "main");
    assert.equal((await gitops(repo.dir, "apply")).code, 0);
    const before = tags(repo.dir, "dev");
    h.reset();

    // Without --yes: only a rollback that asks for confirmation previews first.
    const run = startCli(repo.dir, ["rollback", "--stack", "dev", "--to", a]);
    await h.reached(run.child);
    const temp = () => fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith(`gitops-${a.slice(0, 7)}-`));
    assert.equal(temp().length, 1, "the preview runs in a temporary worktree");
    run.child.kill("SIGINT");
    h.release();
    const r = await run.done;
    assert.equal(r.signal, null);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(tags(repo.dir, "dev"), before, "nothing was deployed, recorded or pinned");
    assert.equal(record(repo.dir, "dev").commit, b);
    assert.equal(worktrees(repo), 1, "the worktree is gone from git");
    assert.deepEqual(temp(), [], "and from the disk");
  });
});
