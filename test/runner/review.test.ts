/**
 * What was reviewed is what gets applied: a pull request's preview fingerprints each stack, apply
 * deploys a stack that requires review only when the fingerprint of what it would deploy now is
 * the reviewed one, refuses otherwise (exit 3, what differs, nothing deployed), and deploys an
 * explicitly accepted fingerprint. Real engine, real git, the default rule (staging needs a review).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { gitops } from "../helpers/cli";
import { pulumi, resources, tags, record, recordIn } from "../helpers/pulumi";
import { createRepo, type TestRepo } from "../helpers/repo";

const reviewTags = (t: Record<string, string>) => Object.keys(t).filter((k) => k.startsWith("gitops:review:"));

/** The rendered Deployment of staging, as the last update left it. */
function stagingDeployment(repo: TestRepo): string {
  const dir = path.join(repo.dir, "rendered", "staging", "1-manifest");
  return fs.readFileSync(
    path.join(
      dir,
      fs.readdirSync(dir).find((f) => f.includes("deployment"))!,
    ),
    "utf8",
  );
}

/** A branch off main with `edit` applied to staging's file, committed; back on main afterwards is up to the caller. */
function branch(repo: TestRepo, name: string, edit: (text: string) => string, message: string): void {
  repo.git("checkout", "-q", "-b", name, "main");
  repo.write("stacks/Pulumi.staging.yaml", edit(repo.read("stacks/Pulumi.staging.yaml")));
  repo.commit(message);
}

const refusedId = (stderr: string, stack: string) => new RegExp(`${stack}: [^\\n]*fingerprint ([0-9a-f]{16})`).exec(stderr)?.[1];

describe("reviewed previews", () => {
  let repo: TestRepo;
  before(() => (repo = createRepo(["dev", "staging"], { reviews: true })));
  after(() => repo.remove());

  it("refuses a stack no preview reviewed, deploying nothing; an accepted fingerprint then deploys and is recorded", async () => {
    const r = await gitops(repo.dir, "apply", "--json", "-");
    assert.equal(r.code, 3, r.stderr);
    const id = refusedId(r.stderr, "staging");
    assert.ok(id, r.stderr);
    assert.match(
      r.stderr,
      /^error: refusing to deploy what no one reviewed; nothing was deployed:\n {2}staging: no reviewed preview has these inputs/m,
    );
    assert.match(r.stderr, new RegExp(`^hint: .*\`gitops preview --stack <stack>\` on main.* --accept ${id}`, "m"));
    assert.equal(record(repo.dir, "dev").commit, undefined, "dev, which needs no review, waits too");
    assert.deepEqual([resources(repo.dir, "dev"), resources(repo.dir, "staging")], [[], []]);
    const out = JSON.parse(r.stdout);
    assert.equal(out.stacks[1].fingerprint.id, id, "the JSON holds what would be deployed and its fingerprint");
    assert.ok(out.stacks[1].changes.length > 3);

    // The way forward: the same fingerprint from a preview on main, which itself reviews nothing.
    const p = await gitops(repo.dir, "preview", "--stack", "staging");
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stderr, new RegExp(`\\[staging\\] fingerprint ${id}$`, "m"));
    assert.deepEqual(reviewTags(tags(repo.dir, "staging")), []);

    const a = await gitops(repo.dir, "apply", "--accept", id!);
    assert.equal(a.code, 0, a.stderr);
    const t = tags(repo.dir, "staging");
    assert.equal(recordIn(t).commit, repo.git("rev-parse", "HEAD"));
    assert.match(t["gitops:accepted"], new RegExp(`^${id} at ${repo.git("rev-parse", "HEAD")} `));
    assert.equal(record(repo.dir, "dev").commit, repo.git("rev-parse", "HEAD"));
  });

  it("deploys a squash merge of exactly what was reviewed without asking, and refuses a pull request reviewed before it", async () => {
    branch(repo, "scale", (s) => s.replace("replicas: 1", "replicas: 3"), "scale staging to 3");
    const pa = await gitops(repo.dir, "preview", "--all");
    assert.equal(pa.code, 0, pa.stderr);
    assert.match(pa.stderr, /\[staging\] fingerprint [0-9a-f]{16}, recorded as reviewed$/m);
    assert.match(pa.stderr, /\[dev\] fingerprint [0-9a-f]{16}$/m);
    assert.deepEqual(reviewTags(tags(repo.dir, "dev")), [], "dev needs no review: none is recorded on it");
    branch(repo, "quiet", (s) => s.replace("LOG_LEVEL: debug", "LOG_LEVEL: info"), "log less on staging");
    const pb = await gitops(repo.dir, "preview", "--json", "-");
    assert.equal(pb.code, 0, pb.stderr);
    const reviewedB = JSON.parse(pb.stdout).stacks[0].fingerprint;
    assert.equal(reviewTags(tags(repo.dir, "staging")).length, 2);

    // B is squash-merged first: a new commit, whose inputs are the ones B's preview saw.
    repo.git("checkout", "-q", "main");
    repo.git("merge", "-q", "--squash", "quiet");
    const squashed = repo.commit("log less on staging (#2)");
    repo.git("push", "-q", "origin", "main");
    const b = await gitops(repo.dir, "apply", "--json", "-");
    assert.equal(b.code, 0, b.stderr);
    const applied = JSON.parse(b.stdout).stacks[1];
    assert.equal(applied.status, "succeeded");
    assert.equal(applied.fingerprint.id, reviewedB.id, "what was deployed is what was reviewed");
    assert.match(stagingDeployment(repo), /value: info/);
    assert.equal(reviewTags(tags(repo.dir, "staging")).length, 1, "B's review is used up");

    // A, reviewed before B changed staging, is merged now: its inputs and the state differ.
    repo.git("merge", "-q", "--no-ff", "-m", "Merge scale (#1)", "scale");
    repo.git("push", "-q", "origin", "main");
    const a = await gitops(repo.dir, "apply");
    assert.equal(a.code, 3, a.stderr);
    assert.match(
      a.stderr,
      /staging: what it would deploy now \(fingerprint [0-9a-f]{16}\) is not what the preview reviewed at [0-9a-f]{7} showed:/,
    );
    assert.match(a.stderr, /- input files differ: stacks\/Pulumi\.staging\.yaml \(changed\)$/m);
    assert.match(
      a.stderr,
      new RegExp(
        `- the state moved since the review: version 1 then, 2 now, by update succeeded at \\S+ \\(commit ${squashed.slice(0, 7)}\\)`,
        "m",
      ),
    );
    assert.equal(record(repo.dir, "staging").commit, squashed, "nothing was deployed");
    assert.match(stagingDeployment(repo), /replicas: 1/);

    // The way forward: look at it on main, accept that fingerprint.
    const id = refusedId(a.stderr, "staging")!;
    const p = await gitops(repo.dir, "preview", "--stack", "staging");
    assert.match(p.stderr, new RegExp(`\\[staging\\] fingerprint ${id}$`, "m"));
    const ok = await gitops(repo.dir, "apply", "--accept", id);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(stagingDeployment(repo), /replicas: 3/);
    assert.match(tags(repo.dir, "staging")["gitops:accepted"], new RegExp(`^${id} at ${repo.git("rev-parse", "HEAD")} `));
  });

  it("refuses when a rollback moved the state between the review and the merge, naming the update", async () => {
    branch(repo, "bigger", (s) => s.replace("replicas: 3", "replicas: 5"), "scale staging to 5");
    const pc = await gitops(repo.dir, "preview");
    assert.equal(pc.code, 0, pc.stderr);
    repo.git("checkout", "-q", "main");
    // Back to the first commit: its log level and replica count both differ from what the review saw.
    const first = repo.git("rev-list", "--max-parents=0", "HEAD");
    const rb = await gitops(repo.dir, "rollback", "--stack", "staging", "--to", first, "--yes");
    assert.equal(rb.code, 0, rb.stderr);
    assert.equal((await gitops(repo.dir, "unpin", "--stack", "staging")).code, 0);
    const runs = record(repo.dir, "staging").commit;

    repo.git("merge", "-q", "--no-ff", "-m", "Merge bigger (#3)", "bigger");
    repo.git("push", "-q", "origin", "main");
    const r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 3, r.stderr);
    assert.match(
      r.stderr,
      /- the state moved since the review: version 3 then, 4 now, by update succeeded at \S+ \(commit [0-9a-f]{7}\) "gitops rollback /m,
    );
    assert.match(
      r.stderr,
      /- planned changes differ:\n\s+urn:pulumi:staging::pulumi-gitops::\S+: reviewed (no change|update \[.*\]), now update \[.+\]$/m,
    );
    assert.equal(record(repo.dir, "staging").commit, runs, "nothing was deployed");
  });

  it("deploys a direct push that plans no change to the stack without a review", async () => {
    repo.git("checkout", "-q", "main");
    // The rollback above left staging behind main; a fresh accepted state first.
    const r0 = await gitops(repo.dir, "apply");
    const id = refusedId(r0.stderr, "staging")!;
    assert.equal((await gitops(repo.dir, "apply", "--accept", id)).code, 0);
    repo.write("program.ts", "// a comment changes no resource\n" + repo.read("program.ts"));
    const head = repo.commit("explain the program");
    repo.git("push", "-q", "origin", "main");
    const r = await gitops(repo.dir, "apply", "--json", "-");
    assert.equal(r.code, 0, r.stderr);
    const staging = JSON.parse(r.stdout).stacks[1];
    assert.match(staging.reason, /no change planned, nothing to review$/);
    assert.equal(record(repo.dir, "staging").commit, head);
  });

  it("keeps a stack's newest 20 reviewed previews", async () => {
    // Older reviews than any above, up to 20 in all: the next review makes 21.
    const old = (i: number) => ({
      inputsDigest: `0ld${String(i).padStart(13, "0")}`,
      time: `2000-01-01T00:00:${String(i).padStart(2, "0")}.000Z`,
    });
    const kept = reviewTags(tags(repo.dir, "staging")).length;
    for (let i = 0; i < 20 - kept; i++)
      pulumi(repo.dir, "stack", "tag", "set", `gitops:review:${old(i).inputsDigest}`, JSON.stringify(old(i)), "--stack", "staging");
    branch(repo, "another", (s) => s + "# one more review\n", "one more review of staging");
    const p = await gitops(repo.dir, "preview", "--stack", "staging");
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stderr, /\[staging\] fingerprint [0-9a-f]{16}, recorded as reviewed$/m);
    const now = reviewTags(tags(repo.dir, "staging"));
    assert.equal(now.length, 20, now.join("\n"));
    assert.ok(!now.includes(`gitops:review:${old(0).inputsDigest}`), "the oldest is gone");
    assert.ok(now.includes(`gitops:review:${old(1).inputsDigest}`), "the next oldest stays");
  });
});
