/** gitops drift: detects out-of-band changes with a real refresh, and --remediate puts git's state back. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { gitops } from "../helpers/cli";
import { tags, record, recordIn } from "../helpers/pulumi";
import { createFileRepo, createRepo, type TestRepo } from "../helpers/repo";

interface Json {
  title: string;
  stacks: {
    stack: string;
    operation: string;
    status: string;
    reason?: string;
    changes: { name: string; op: string; diffs: { path: string; kind: string; before?: unknown; after?: unknown }[] }[];
  }[];
}

const worktrees = (repo: TestRepo) =>
  repo
    .git("worktree", "list", "--porcelain")
    .split("\n")
    .filter((l) => l.startsWith("worktree ")).length;

describe("gitops drift", () => {
  let repo: TestRepo;
  let file: string;
  let deployed: string;
  before(async () => {
    repo = createFileRepo();
    file = path.join(repo.dir, "target", "greeting.txt");
    deployed = repo.git("rev-parse", "HEAD");
    const r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(file, "utf8"), "hello");
  });
  after(() => repo.remove());

  it("finds no drift right after apply", async () => {
    const r = await gitops(repo.dir, "drift");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^dev: no drift/m);
  });

  it("reports an out-of-band edit with the resource and the property, and changes nothing", async () => {
    fs.writeFileSync(file, "tampered");
    const reportFile = path.join(repo.dir, "..", "drift.md");
    const r = await gitops(repo.dir, "drift", "--json", "-", "--report", reportFile);
    assert.equal(r.code, 2, r.stderr);
    const out: Json = JSON.parse(r.stdout);
    assert.equal(out.title, "Drift");
    const [dev] = out.stacks;
    assert.equal(dev.operation, "drift");
    assert.equal(dev.status, "succeeded");
    assert.deepEqual(
      dev.changes.map((c) => [c.name, c.op]),
      [["greeting", "update"]],
    );
    assert.deepEqual(dev.changes[0].diffs, [{ path: "content", kind: "update", before: "hello", after: "tampered" }]);
    assert.match(dev.reason!, new RegExp(`^drifted from ${deployed.slice(0, 7)}: greeting \\(content\\)$`));
    const report = fs.readFileSync(reportFile, "utf8");
    assert.match(report, /^## Drift at `[0-9a-f]{7}`/);
    assert.match(report, /\| dev \| 0 \| 1 \| 0 \| 0 \| \d+ \| drift \|/);
    assert.match(report, /<b>greeting<\/b>[\s\S]*\| content \| update \| `hello` \| `tampered` \|/);
    assert.equal(fs.readFileSync(file, "utf8"), "tampered", "detection changes nothing");
  });

  it("refuses to remediate off the protected branch", async () => {
    repo.git("checkout", "-q", "-b", "feature");
    const r = await gitops(repo.dir, "drift", "--remediate");
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /^error: .*protected branch 'main', not on 'feature'\nhint: /m);
    assert.equal(fs.readFileSync(file, "utf8"), "tampered");
    repo.git("checkout", "-q", "main");
  });

  it("remediates from the checkout when HEAD is the deployed commit, and records it", async () => {
    const r = await gitops(repo.dir, "drift", "--remediate", "--json", "-");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(file, "utf8"), "hello");
    const out: Json = JSON.parse(r.stdout);
    assert.equal(out.title, "Drift remediation");
    assert.equal(out.stacks[0].status, "succeeded");
    assert.match(out.stacks[0].reason!, /^drifted: greeting \(content\); redeployed [0-9a-f]{7}$/);
    const t = tags(repo.dir, "dev");
    assert.equal(recordIn(t).command, "remediate");
    assert.equal(recordIn(t).commit, deployed);
    assert.equal(recordIn(t).result, "succeeded");
    const backups = fs.readdirSync(path.join(repo.dir, ".pulumi-gitops", "backups", "dev"));
    assert.ok(backups.length >= 2, `apply's and remediate's backups: ${backups}`);
    const again = await gitops(repo.dir, "drift");
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^dev: no drift/m);
  });

  it("reports a deleted resource as drift, and remediates it from a worktree of the deployed commit", async () => {
    repo.write("NOTES.md", "not infrastructure\n");
    const head = repo.commit("notes");
    repo.git("push", "-q", "origin", "main");
    fs.rmSync(file);
    const r = await gitops(repo.dir, "drift", "--json", "-");
    assert.equal(r.code, 2, r.stderr);
    const out: Json = JSON.parse(r.stdout);
    assert.deepEqual(
      out.stacks[0].changes.map((c) => [c.name, c.op, c.diffs.length]),
      [["greeting", "delete", 0]],
    );
    assert.match(out.stacks[0].reason!, /greeting \(gone\)/);

    const fixed = await gitops(repo.dir, "drift", "--remediate");
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.match(fixed.stderr, new RegExp(`${deployed.slice(0, 7)} is not HEAD: remediating from a temporary checkout of it`));
    assert.equal(fs.readFileSync(file, "utf8"), "hello");
    assert.equal(record(repo.dir, "dev").commit, deployed, "the stack still runs the commit it deployed");
    assert.equal(repo.git("rev-parse", "HEAD"), head, "the user's checkout did not move");
    assert.equal(repo.git("status", "--porcelain"), "");
    assert.equal(worktrees(repo), 1, "the temporary worktree is gone");
    assert.equal((await gitops(repo.dir, "drift")).code, 0);
  });

  it("exits 1 when a refresh fails, with the reason and a hint", async () => {
    fs.rmSync(file);
    fs.mkdirSync(file); // the provider's read now fails: a directory stands where the file was
    try {
      const r = await gitops(repo.dir, "drift");
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^error: dev: [\s\S]*EISDIR[\s\S]*\nhint: the refresh could not read dev's resources/m);
    } finally {
      fs.rmSync(file, { recursive: true });
      fs.writeFileSync(file, "hello");
    }
    assert.equal((await gitops(repo.dir, "drift")).code, 0);
  });
});

describe("gitops drift on stacks it cannot check", () => {
  let repo: TestRepo;
  before(async () => {
    repo = createRepo(["dev", "staging"]);
    const r = await gitops(repo.dir, "apply", "--stack", "dev");
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => repo.remove());

  it("skips a render-mode stack and a never-deployed one, each with its reason", async () => {
    const r = await gitops(repo.dir, "drift", "--json", "-");
    assert.equal(r.code, 0, r.stderr);
    const out: Json = JSON.parse(r.stdout);
    assert.deepEqual(
      out.stacks.map((s) => [s.stack, s.status]),
      [
        ["dev", "skipped"],
        ["staging", "skipped"],
      ],
    );
    assert.match(out.stacks[0].reason!, /renders manifests to .*rendered\/dev.*drift cannot be checked \(use a cluster target\)/);
    assert.match(out.stacks[1].reason!, /never deployed/);
    assert.doesNotMatch(r.stderr, /unreachable cluster/);
  });
});
