/** Every bad input gets a clear error, the right exit code, and changes nothing. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { gitops, startCli } from "../helpers/cli";
import { resources } from "../helpers/pulumi";
import { createRepo, PROJECT, type TestRepo } from "../helpers/repo";

/** The error is the user-facing two-line form, never a stack trace. */
function assertCleanError(stderr: string, message: RegExp): void {
  assert.match(stderr, message);
  assert.match(stderr, /^hint: .+/m);
  assert.doesNotMatch(stderr, /^\s+at .+:\d+:\d+\)?$/m, "no stack trace");
}

describe("bad input", () => {
  let repo: TestRepo;
  before(() => (repo = createRepo(["dev", "staging"])));
  after(() => repo.remove());

  it("an unknown stack is a usage error naming the real ones", async () => {
    const r = await gitops(repo.dir, "preview", "--stack", "qa");
    assert.equal(r.code, 64);
    assertCleanError(r.stderr, /error: unknown stack: qa\nhint: the stacks are dev, staging/);
  });

  it("a missing base ref says how to fix it", async () => {
    const r = await gitops(repo.dir, "preview", "--base", "no-such-branch");
    assert.equal(r.code, 1);
    assertCleanError(r.stderr, /error: base ref 'no-such-branch' does not name a commit/);
  });

  it("an unknown command or option is a usage error", async () => {
    assert.equal((await gitops(repo.dir, "deploy")).code, 64);
    const r = await gitops(repo.dir, "apply", "--stacks", "dev");
    assert.equal(r.code, 64);
    assert.match(r.stderr, /Unknown argument: stacks/);
  });

  it("a missing or bad option value is a usage error that names the option, and nothing runs", async () => {
    const cases: [string[], RegExp][] = [
      [["apply", "--lock-timeout", "abc"], /^error: --lock-timeout takes a whole number, not 'abc' \(for example --lock-timeout 120\)\nhint: see `gitops apply --help`$/m],
      [["apply", "--lock-timeout", "-5"], /^error: --lock-timeout takes a whole number, not '-5'/m],
      [["apply", "--lock-timeout"], /^error: Not enough arguments following: lock-timeout\nhint: see `gitops apply --help`$/m],
      [["preview", "--parallel", "abc"], /^error: --parallel takes a whole number of at least 1, not 'abc'.*\nhint: see `gitops preview --help`$/m],
      [["preview", "--parallel", "0"], /^error: --parallel takes a whole number of at least 1, not '0'/m],
      [["preview", "--all", "--parallel"], /^error: Not enough arguments following: parallel$/m],
      [["rollback", "--stack", "dev", "--to", "HEAD", "--lock-timeout", "1.5"], /^error: --lock-timeout takes a whole number, not '1\.5'/m],
      [["history", "--stack", "dev", "--limit", "many"], /^error: --limit takes a whole number of at least 1, not 'many'/m],
      [["unlock", "--stack"], /^error: Not enough arguments following: stack\nhint: see `gitops unlock --help`$/m],
    ];
    for (const [args, message] of cases) {
      const r = await gitops(repo.dir, ...args);
      assert.equal(r.code, 64, `${args.join(" ")}: ${r.stderr}`);
      assertCleanError(r.stderr, message);
    }
    assert.deepEqual(resources(repo.dir, "dev"), [], "nothing was deployed");
  });

  it("a broken stack file is reported with file and key, and nothing is applied", async () => {
    const good = repo.read("stacks/Pulumi.staging.yaml");
    repo.write("stacks/Pulumi.staging.yaml", good.replace("replicas: 1", 'replicas: "three"').replace("port: 8080", "port: 8080\n    colour: blue"));
    repo.commit("break the staging file");
    repo.git("push", "-q", "origin", "main");
    const r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 1);
    assertCleanError(r.stderr, /stacks\/Pulumi\.staging\.yaml: pulumi-gitops:app\.replicas: /);
    assert.match(r.stderr, /stacks\/Pulumi\.staging\.yaml: pulumi-gitops:app\.colour: /);
    assert.deepEqual(resources(repo.dir, "dev"), [], "dev was not applied either: files are checked before any engine runs");
    assert.equal(repo.git("status", "--porcelain"), "");
    repo.write("stacks/Pulumi.staging.yaml", good);
    repo.commit("fix the staging file");
    repo.git("push", "-q", "origin", "main");
  });

  it("a broken rules file names the key", async () => {
    repo.write("stacks/gitops.yaml", "protectedBranch: main\npaths:\n  rulez: []\n");
    const r = await gitops(repo.dir, "preview", "--all");
    assert.equal(r.code, 1);
    assertCleanError(r.stderr, /stacks\/gitops\.yaml: paths\.rulez: unknown key/);
    repo.git("clean", "-qfd", "stacks");
  });

  it("the real staging and prod stacks fail per stack, clearly, where cloud access is needed", async () => {
    for (const s of ["staging", "prod"]) repo.write(`stacks/Pulumi.${s}.yaml`, fs.readFileSync(path.join(PROJECT, "stacks", `Pulumi.${s}.yaml`), "utf8"));
    const r = await gitops(repo.dir, "preview", "--all", "--json", "-");
    assert.equal(r.code, 1, r.stderr);
    const stacks = JSON.parse(r.stdout).stacks;
    assert.deepEqual(stacks.map((s: { stack: string; status: string }) => [s.stack, s.status]), [["dev", "succeeded"], ["staging", "failed"], ["prod", "failed"]]);
    for (const s of stacks.slice(1)) assert.match(s.error, /needs the 'aws' resource plugin 7\.48\.0, which is not installed\ninstall it on a machine with network access/);
    assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, "no stack trace");
    repo.git("checkout", "--", "stacks");
  });

  it("a missing engine says how to get one", async () => {
    const r = await startCli(repo.dir, ["preview", "--all"], { PULUMI_GITOPS_ENGINE: "/nonexistent/engine" }).done;
    assert.equal(r.code, 1);
    assertCleanError(r.stderr, /error: no Pulumi engine at \/nonexistent\/engine\nhint: run `npm run engine`/);
  });
});

describe("concurrent applies", () => {
  let repo: TestRepo;
  before(() => (repo = createRepo(["dev"])));
  after(() => repo.remove());

  it("never run two updates of one stack at once; the loser fails cleanly or waits, and state stays intact", async () => {
    const [a, b] = await Promise.all([startCli(repo.dir, ["apply"]).done, startCli(repo.dir, ["apply"]).done]);
    const codes = [a.code, b.code].sort();
    assert.ok(codes[0] === 0, `one apply succeeds: ${a.stderr}\n---\n${b.stderr}`);
    if (codes[1] === 3) assertCleanError((a.code === 3 ? a : b).stderr, /stack dev is locked: /);
    else assert.equal(codes[1], 0);
    const urns = resources(repo.dir, "dev");
    assert.equal(new Set(urns).size, urns.length, "no duplicated resources");
    const preview = await gitops(repo.dir, "preview", "--stack", "dev", "--detailed-exitcode");
    assert.equal(preview.code, 0, `state matches the program after the race: ${preview.stderr}`);
  });
});
