/** gitops apply on main: guarded, ordered, recorded, and idempotent; status reports what runs. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { DEMO_PASSPHRASE } from "../../runner/services/context";
import { killProcessesUnder } from "../fixtures/proc";
import { gitops, startCli } from "../helpers/cli";
import { alive, enginePid, hold, holdFetch, lockFiles, printed } from "../helpers/hold";
import { pulumi, resources, tags, record, recordIn } from "../helpers/pulumi";
import { counterStackYaml, createCounterRepo, createRepo, git, type TestRepo } from "../helpers/repo";

const order = (stderr: string) => [...stderr.matchAll(/^\[(\w+)\] apply [0-9a-f]{7}$/gm)].map((m) => m[1]);

describe("gitops apply", () => {
  let repo: TestRepo;
  before(() => (repo = createRepo()));
  after(() => repo.remove());

  it("deploys every stack in environment order and records the commit", async () => {
    const head = repo.git("rev-parse", "HEAD");
    const r = await gitops(repo.dir, "apply", "--json", "-");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(order(r.stderr), ["dev", "staging", "prod"]);
    for (const s of ["dev", "staging", "prod"]) {
      const t = tags(repo.dir, s);
      assert.equal(recordIn(t).commit, head);
      assert.equal(recordIn(t).command, "apply");
      assert.equal(recordIn(t).result, "succeeded");
      const manifests = fs.readdirSync(path.join(repo.dir, "rendered", s, "1-manifest"));
      assert.ok(
        manifests.some((f) => f.includes("deployment")),
        `${s} rendered a Deployment: ${manifests}`,
      );
      assert.ok(fs.readdirSync(path.join(repo.dir, ".pulumi-gitops", "backups", s)).length === 1, "a state backup was saved first");
    }
    const history = JSON.parse(pulumi(repo.dir, "stack", "history", "--json", "--stack", "dev"));
    assert.match(history[0].message, new RegExp(`^gitops apply ${head.slice(0, 7)}: initial infrastructure$`));
    assert.equal(repo.git("status", "--porcelain"), "", "apply leaves the working tree clean");
  });

  it("does nothing on a second apply, and status reports every stack in sync", async () => {
    const r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(order(r.stderr), []);
    assert.match(r.stderr, /dev: skip, in sync/);
    const s = await gitops(repo.dir, "status", "--json");
    assert.equal(s.code, 0, s.stderr);
    const rows = JSON.parse(s.stdout);
    const head = repo.git("rev-parse", "HEAD");
    assert.deepEqual(
      rows.map((x: { stack: string }) => x.stack),
      ["dev", "staging", "prod"],
    );
    for (const row of rows) {
      assert.equal(row.commit, head);
      assert.equal(row.subject, "initial infrastructure");
      assert.equal(row.behind, 0);
      assert.equal(row.inSync, true);
      assert.equal(row.result, "succeeded");
    }
    const table = await gitops(repo.dir, "status");
    assert.match(table.stdout, /^STACK\s+RUNS\s+SUBJECT/m);
    assert.match(table.stdout, /^prod\s+[0-9a-f]{7}\s+initial infrastructure/m);
  });

  it("after a merge, applies only the affected stack and shows it in history", async () => {
    repo.git("checkout", "-q", "-b", "scale-prod");
    repo.write("stacks/Pulumi.prod.yaml", repo.read("stacks/Pulumi.prod.yaml").replace("replicas: 1", "replicas: 4"));
    repo.commit("scale prod to 4");
    repo.git("checkout", "-q", "main");
    repo.git("merge", "-q", "--no-ff", "-m", "Merge scale-prod", "scale-prod");
    repo.git("push", "-q", "origin", "main");
    const status = JSON.parse((await gitops(repo.dir, "status", "--json")).stdout);
    assert.deepEqual(
      status.map((x: { stack: string; inSync: boolean; behind: number }) => [x.stack, x.inSync, x.behind]),
      [
        ["dev", true, 2],
        ["staging", true, 2],
        ["prod", false, 2],
      ],
    );
    const r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(order(r.stderr), ["prod"]);
    assert.match(r.stderr, /staging: skip, nothing since [0-9a-f]{7} affects it/);
    const manifest = fs.readdirSync(path.join(repo.dir, "rendered/prod/1-manifest")).find((f) => f.includes("deployment"))!;
    assert.match(fs.readFileSync(path.join(repo.dir, "rendered/prod/1-manifest", manifest), "utf8"), /replicas: 4/);
    const h = await gitops(repo.dir, "history", "--stack", "prod", "--json");
    assert.equal(h.code, 0, h.stderr);
    const entries = JSON.parse(h.stdout);
    assert.equal(entries.length, 2);
    assert.match(entries[0].message, /^gitops apply [0-9a-f]{7}: Merge scale-prod$/);
    assert.equal(entries[0].result, "succeeded");
    assert.equal(entries[0].changes.update, 1);
  });

  it("stops at the first failing stack and leaves the earlier ones applied", async () => {
    const before = Object.fromEntries(["dev", "staging", "prod"].map((s) => [s, record(repo.dir, s).commit]));
    repo.write(
      "index.ts",
      `import * as sdk from "@pulumi/pulumi";\nif (sdk.getStack() === "staging") throw new Error("staging is broken on purpose");\n` +
        repo.read("index.ts"),
    );
    const bad = repo.commit("break staging");
    repo.git("push", "-q", "origin", "main");
    const r = await gitops(repo.dir, "apply", "--json", "-");
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(
      out.stacks.map((s: { stack: string; status: string }) => [s.stack, s.status]),
      [
        ["dev", "succeeded"],
        ["staging", "failed"],
        ["prod", "skipped"],
      ],
    );
    assert.match(out.stacks[1].error, /staging is broken on purpose/);
    assert.match(
      r.stderr,
      /^error: staging: [\s\S]*staging is broken on purpose[\s\S]*\nhint: `gitops status` shows what staging runs now; fix the cause/m,
    );
    assert.match(out.stacks[2].reason, /not applied: staging failed/);
    assert.equal(record(repo.dir, "dev").commit, bad);
    assert.equal(record(repo.dir, "staging").commit, before.staging, "a failed stack keeps the commit that runs");
    assert.equal(record(repo.dir, "staging").result, "failed");
    assert.equal(record(repo.dir, "prod").commit, before.prod);
    assert.ok(resources(repo.dir, "staging").length > 3, "staging's resources are intact");
  });

  it("after the fix, status says what staging runs and what its failed attempt was; history numbers the updates", async () => {
    const runs = record(repo.dir, "staging").commit!;
    const bad = repo.git("rev-parse", "HEAD");
    repo.git("revert", "--no-edit", "HEAD");
    repo.git("push", "-q", "origin", "main");
    const s = await gitops(repo.dir, "status");
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^STACK\s+RUNS\s+SUBJECT\s+BEHIND\s+SYNC\s+PIN\s+LAST ATTEMPT$/m);
    assert.match(s.stdout, new RegExp(`^staging\\s+${runs.slice(0, 7)}\\s+.*\\sin-sync\\s+-\\s+failed apply ${bad.slice(0, 7)} `, "m"));
    assert.match(
      s.stdout,
      new RegExp(
        `^staging: the last attempt \\(apply of ${bad.slice(0, 7)}, [^)]+\\) failed; it still runs ${runs.slice(0, 7)}, which is what main declares for it: apply has nothing to do$`,
        "m",
      ),
    );
    const json = JSON.parse((await gitops(repo.dir, "status", "--json", "--stack", "staging")).stdout)[0];
    assert.deepEqual([json.commit, json.attempted, json.result, json.inSync], [runs, bad, "failed", true]);

    const h = await gitops(repo.dir, "history", "--stack", "staging", "--json");
    assert.equal(h.code, 0, h.stderr);
    const versions = JSON.parse(h.stdout).map((e: { version: number }) => e.version);
    assert.deepEqual(
      versions,
      Array.from({ length: versions.length }, (_, i) => versions.length - i),
      "newest first, numbered from 1",
    );
    // The program failed in the update's own preview, so the engine began no update and its history
    // has none to show: the failed attempt is in the record (above), and the newest entry is what runs.
    const table = await gitops(repo.dir, "history", "--stack", "staging");
    assert.match(table.stdout, new RegExp(`^\\s*${versions.length}  .* update  succeeded  ${runs.slice(0, 7)} `, "m"));
  });
});

describe("apply guards", () => {
  let repo: TestRepo;
  before(() => (repo = createRepo(["dev"])));
  after(() => repo.remove());

  it("refuses on a branch other than main", async () => {
    repo.git("checkout", "-q", "-b", "feature");
    const r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error: apply runs only on the protected branch 'main', not on 'feature'\nhint: /);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, "no stack trace");
    repo.git("checkout", "-q", "main");
  });

  it("refuses with uncommitted changes and names them", async () => {
    repo.write("stacks/Pulumi.dev.yaml", repo.read("stacks/Pulumi.dev.yaml").replace("replicas: 1", "replicas: 2"));
    const r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 3);
    assert.match(r.stderr, /uncommitted changes: stacks\/Pulumi\.dev\.yaml/);
    repo.git("checkout", "--", "stacks/Pulumi.dev.yaml");
  });

  it("refuses when behind the remote, and when ahead of it", async () => {
    const clone = path.join(repo.dir, "..", "other");
    repo.git("clone", "-q", repo.origin, clone);
    fs.writeFileSync(path.join(clone, "README.md"), "# changed elsewhere\n");
    for (const args of [
      ["-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-qam", "elsewhere"],
      ["push", "-q", "origin", "main"],
    ]) {
      repo.git("-C", clone, ...args);
    }
    const behind = await gitops(repo.dir, "apply");
    assert.equal(behind.code, 3);
    assert.match(behind.stderr, /1 commit\(s\) behind origin\/main/);
    repo.git("pull", "-q", "--ff-only", "origin", "main");
    repo.write("README.md", "# local only\n");
    repo.commit("not pushed");
    const ahead = await gitops(repo.dir, "apply");
    assert.equal(ahead.code, 3);
    assert.match(ahead.stderr, /1 commit\(s\) ahead of origin\/main/);
    assert.deepEqual(resources(repo.dir, "dev"), [], "nothing was deployed");
  });
});

const history = (repo: TestRepo) =>
  JSON.parse(pulumi(repo.dir, "stack", "history", "--json", "--stack", "dev")) as {
    result: string;
    environment?: Record<string, string>;
  }[];
const version = (repo: TestRepo) => JSON.parse(pulumi(repo.dir, "stack", "output", "--json", "--stack", "dev")).version;

describe("apply against another runner", () => {
  const repos: TestRepo[] = [];
  after(() => {
    for (const r of repos) {
      killProcessesUnder(path.join(r.dir, ".."));
      r.remove();
    }
  });

  it(
    "--lock-timeout: gives up when the lock stays held, stops waiting on Ctrl-C, goes on once it is released",
    { timeout: 600_000 },
    async () => {
      const h = hold();
      const repo = createCounterRepo({ dev: { count: 1, version: "one" } });
      repos.push(repo);
      assert.equal((await gitops(repo.dir, "apply")).code, 0);
      repo.write("stacks/Pulumi.dev.yaml", counterStackYaml({ count: 2, version: "two", holdFile: h.file }));
      repo.commit("two, held open");
      repo.git("push", "-q", "origin", "main");
      const holder = startCli(repo.dir, ["apply"]);
      await h.reached(holder.child);
      const engine = enginePid(holder.child.pid!);

      const late = await gitops(repo.dir, "apply", "--lock-timeout", "2");
      assert.equal(late.code, 3, late.stderr);
      assert.match(late.stderr, new RegExp(`^error: stack dev is locked: created by \\S+ \\(pid ${engine}\\)`, "m"));

      const interrupted = startCli(repo.dir, ["apply", "--lock-timeout", "3600"]);
      await printed(interrupted.child, /is locked.*; retrying in/);
      interrupted.child.kill("SIGINT");
      const stopped = await interrupted.done;
      assert.equal(stopped.signal, null);
      assert.equal(stopped.code, 1, stopped.stderr);
      assert.ok(alive(engine), "it stopped waiting while the lock was still held");

      const patient = startCli(repo.dir, ["apply", "--lock-timeout", "3600"]);
      await printed(patient.child, /is locked.*; retrying in/);
      h.release();
      assert.equal((await holder.done).code, 0);
      const waited = await patient.done;
      assert.equal(waited.code, 0, waited.stderr);
      assert.deepEqual(
        history(repo).map((u) => u.result),
        ["succeeded", "succeeded", "succeeded"],
        "the holder's update, then the one that waited",
      );
      assert.deepEqual(lockFiles(path.join(repo.dir, ".pulumi-gitops", "state")), []);
      assert.equal(version(repo), "two");
    },
  );

  it(
    "an older pipeline that waited for the lock while a newer one deployed does not deploy its commit over it",
    { timeout: 600_000 },
    async () => {
      const h = hold();
      const repo = createCounterRepo({ dev: { count: 1, version: "w" } });
      repos.push(repo);
      assert.equal((await gitops(repo.dir, "apply")).code, 0);
      const state = path.join(repo.dir, ".pulumi-gitops", "state");
      // A second checkout of the same origin on the same backend, named by PULUMI_BACKEND_URL.
      const other = path.join(repo.dir, "..", "other");
      repo.git("clone", "-q", repo.origin, other);
      fs.symlinkSync(fs.realpathSync(path.join(repo.dir, "node_modules")), path.join(other, "node_modules"));
      fs.appendFileSync(path.join(other, ".git", "info", "exclude"), "/node_modules\n");
      const env = { PULUMI_BACKEND_URL: `file://${state}`, PULUMI_CONFIG_PASSPHRASE: DEMO_PASSPHRASE };

      repo.write("stacks/Pulumi.dev.yaml", counterStackYaml({ count: 3, version: "x" }));
      const x = repo.commit("x");
      repo.git("push", "-q", "origin", "main");
      // The pipeline of x checks that x is main's tip, then is held before it deploys.
      const fetch = holdFetch(repo.dir);
      const older = startCli(repo.dir, ["apply", "--lock-timeout", "3600"], { GITOPS_GIT_TIMEOUT: "1h" });
      await fetch.reached(older.child);

      // y lands on main; its pipeline, in the other checkout, deploys it and is held mid-update.
      for (const args of [
        ["pull", "-q", "--ff-only", "origin", "main"],
        ["config", "user.name", "T"],
        ["config", "user.email", "t@example.invalid"],
      ])
        git(other, ...args);
      fs.writeFileSync(path.join(other, "stacks", "Pulumi.dev.yaml"), counterStackYaml({ count: 4, version: "y", holdFile: h.file }));
      git(other, "commit", "-qam", "y");
      const y = git(other, "rev-parse", "HEAD");
      git(other, "push", "-q", "origin", "main");
      const newer = startCli(other, ["apply"], env);
      await h.reached(newer.child);

      // x's pipeline goes on, meets y's lock and waits for it; then y's update ends.
      fetch.release();
      await printed(older.child, /is locked.*; retrying in/);
      h.release();
      const rn = await newer.done;
      assert.equal(rn.code, 0, rn.stderr);
      const ro = await older.done;
      assert.equal(ro.code, 3, ro.stderr);
      assert.match(
        ro.stderr,
        new RegExp(
          `^error: refusing to deploy ${x.slice(0, 7)} to dev: it runs ${y.slice(0, 7)}, which ${x.slice(0, 7)} does not contain`,
          "m",
        ),
      );
      assert.equal(version(repo), "y", "what runs is the newer commit");
      assert.equal(record(repo.dir, "dev").commit, y);
      assert.equal(history(repo)[0].environment?.["git.head"], y, "no update after y's");
    },
  );
});
