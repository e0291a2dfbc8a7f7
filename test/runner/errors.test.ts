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
      [
        ["apply", "--lock-timeout", "abc"],
        /^error: --lock-timeout takes a whole number, not 'abc' \(for example --lock-timeout 120\)\nhint: see `gitops apply --help`$/m,
      ],
      [["apply", "--lock-timeout", "-5"], /^error: --lock-timeout takes a whole number, not '-5'/m],
      [["apply", "--lock-timeout"], /^error: Not enough arguments following: lock-timeout\nhint: see `gitops apply --help`$/m],
      [
        ["preview", "--parallel", "abc"],
        /^error: --parallel takes a whole number of at least 1, not 'abc'.*\nhint: see `gitops preview --help`$/m,
      ],
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

  it("a --report or --json into a missing directory is a usage error before any work", async () => {
    const missing = path.join(repo.dir, "..", "no-such-dir");
    const applied = await gitops(repo.dir, "apply", "--report", path.join(missing, "apply.md"));
    assert.equal(applied.code, 64, applied.stderr);
    assertCleanError(
      applied.stderr,
      /^error: --report .*no-such-dir\/apply\.md: the directory .*no-such-dir does not exist\nhint: create it first/m,
    );
    assert.deepEqual(resources(repo.dir, "dev"), [], "nothing was deployed");
    const previewed = await gitops(repo.dir, "preview", "--all", "--json", path.join(missing, "preview.json"));
    assert.equal(previewed.code, 64, previewed.stderr);
    assertCleanError(previewed.stderr, /^error: --json .*: the directory .*no-such-dir does not exist/m);
    assert.doesNotMatch(previewed.stderr, /previewing/, "no preview ran");
    const dir = await gitops(repo.dir, "preview", "--all", "--report", repo.dir);
    assert.equal(dir.code, 64, dir.stderr);
    assertCleanError(dir.stderr, /^error: --report .* is a directory/m);
  });

  it("a stack file whose name the engine refuses is named in a clean error", async () => {
    repo.write("stacks/Pulumi.a$b.yaml", repo.read("stacks/Pulumi.dev.yaml"));
    try {
      const r = await gitops(repo.dir, "preview", "--all");
      assert.equal(r.code, 1, r.stderr);
      assertCleanError(r.stderr, /^error: stacks\/Pulumi\.a\$b\.yaml: not a valid stack name\nhint: .*rename the file/m);
    } finally {
      fs.rmSync(path.join(repo.dir, "stacks", "Pulumi.a$b.yaml"));
    }
  });

  it("invalid YAML in a stack file or the rules names the file, line and column", async () => {
    const good = repo.read("stacks/Pulumi.staging.yaml");
    const lines = good.split("\n");
    const at = lines.findIndex((l) => /^\s+replicas: 1$/.test(l));
    lines[at] = lines[at].replace("replicas: 1", "replicas: [1");
    repo.write("stacks/Pulumi.staging.yaml", lines.join("\n"));
    repo.commit("break the staging file's syntax");
    repo.git("push", "-q", "origin", "main");
    const r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 1, r.stderr);
    assertCleanError(r.stderr, /^ *stacks\/Pulumi\.staging\.yaml:\d+:\d+: \(yaml\): \S/m);
    const [line] = /stacks\/Pulumi\.staging\.yaml:(\d+):/.exec(r.stderr)!.slice(1).map(Number);
    assert.ok(line > at, `the error is at or after the broken line ${at + 1}: ${line}`);
    assert.deepEqual(resources(repo.dir, "dev"), [], "nothing was applied");
    repo.write("stacks/Pulumi.staging.yaml", good);
    repo.commit("fix the staging file's syntax");
    repo.git("push", "-q", "origin", "main");

    repo.write("stacks/gitops.yaml", "protectedBranch: main\npaths:\n  program: [index.ts\n  ignore: []\n");
    const rules = await gitops(repo.dir, "preview", "--all");
    assert.equal(rules.code, 1);
    // One format for every file the runner reads: the same as the stack file's syntax error above.
    assertCleanError(rules.stderr, /^error: the runner's rules are invalid:\n {2}stacks\/gitops\.yaml:\d+:\d+: \(yaml\): \S/m);
    repo.git("checkout", "-q", "--", "stacks");
    repo.git("clean", "-qfd", "stacks");
  });

  it("a broken stack file is reported with file and key, and nothing is applied", async () => {
    const good = repo.read("stacks/Pulumi.staging.yaml");
    repo.write(
      "stacks/Pulumi.staging.yaml",
      good.replace("replicas: 1", 'replicas: "three"').replace("port: 8080", "port: 8080\n    colour: blue"),
    );
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
    assertCleanError(r.stderr, /^ {2}stacks\/gitops\.yaml: paths\.rulez: is not a known setting$/m);
    repo.git("checkout", "-q", "--", "stacks");
    repo.git("clean", "-qfd", "stacks");
  });

  it("the real staging and prod stacks fail per stack, clearly, where cloud access is needed", async () => {
    for (const s of ["staging", "prod"])
      repo.write(`stacks/Pulumi.${s}.yaml`, fs.readFileSync(path.join(PROJECT, "stacks", `Pulumi.${s}.yaml`), "utf8"));
    // Stacks that target real infrastructure refuse the demo passphrase (test/runner/secrets.test.ts).
    const r = await startCli(repo.dir, ["preview", "--all", "--json", "-"], { PULUMI_CONFIG_PASSPHRASE: "a passphrase of our own" }).done;
    assert.equal(r.code, 1, r.stderr);
    const stacks = JSON.parse(r.stdout).stacks;
    assert.deepEqual(
      stacks.map((s: { stack: string; status: string }) => [s.stack, s.status]),
      [
        ["dev", "succeeded"],
        ["staging", "failed"],
        ["prod", "failed"],
      ],
    );
    for (const s of stacks.slice(1)) {
      assert.match(s.error, /needs the 'aws' resource plugin 7\.48\.0, which is not installed$/);
      assert.match(s.hint, /^install it on a machine with network access/);
      assert.match(
        r.stderr,
        new RegExp(
          `^error: ${s.stack}: stack ${s.stack} needs the 'aws' resource plugin 7\\.48\\.0, which is not installed\nhint: install it on a machine`,
          "m",
        ),
      );
    }
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
