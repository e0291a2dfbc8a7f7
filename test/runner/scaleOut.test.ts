/**
 * Scale-out of a pull request's preview across CI jobs, as .github/workflows/preview.yml does it:
 * `gitops affected --json` lists the stacks, one `gitops preview --stack <name> --json` per job, and
 * `gitops report` merges the files into what one preview of all of them gives. Real engine, real git.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { gitops } from "../helpers/cli";
import { createRepo, type TestRepo } from "../helpers/repo";

interface ResultFile {
  commit: string;
  unaffected: string[];
  stacks: {
    stack: string;
    status: string;
    counts: Record<string, number>;
    changes: { urn: string }[];
    durationMs: number;
    fingerprint?: { id: string; time: string };
  }[];
}

describe("a preview split into one job per stack", () => {
  let repo: TestRepo;
  let out: string;
  const file = (...p: string[]) => path.join(out, ...p);
  const read = (f: string) => JSON.parse(fs.readFileSync(f, "utf8")) as ResultFile;
  /** A per-stack job: previews `stack` into <dir>/<stack>.json, as the matrix job uploads it. */
  const job = async (dir: string, stack: string) => {
    fs.mkdirSync(file(dir), { recursive: true });
    const r = await gitops(repo.dir, "preview", "--stack", stack, "--json", file(dir, `${stack}.json`));
    assert.equal(r.code, 0, r.stderr);
  };

  before(() => {
    repo = createRepo();
    out = path.join(repo.dir, "..", "results");
    repo.git("checkout", "-q", "-b", "scale");
    for (const s of ["staging", "prod"]) {
      const f = `stacks/Pulumi.${s}.yaml`;
      repo.write(f, repo.read(f).replace("replicas: 1", "replicas: 3"));
    }
    repo.commit("staging and prod: 3 replicas");
  });
  after(() => repo.remove());

  it("affected lists the stacks the branch changes, as JSON for a matrix and a name per line", async () => {
    const json = await gitops(repo.dir, "affected", "--json");
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), ["staging", "prod"]);
    const lines = await gitops(repo.dir, "affected");
    assert.equal(lines.stdout, "staging\nprod\n");
    const none = await gitops(repo.dir, "affected", "--json", "--base", "HEAD");
    assert.equal(none.stdout, "[]\n");
  });

  it("report merges the per-stack results into what one preview of all of them gives", async () => {
    await job("jobs/preview-staging", "staging");
    await job("jobs/preview-prod", "prod");
    const merged = await gitops(
      repo.dir,
      "report",
      file("jobs"),
      "--affected",
      '["staging","prod"]',
      "--json",
      file("merged.json"),
      "--report",
      file("merged.md"),
      "--detailed-exitcode",
    );
    assert.equal(merged.code, 2, merged.stderr);
    const whole = await gitops(repo.dir, "preview", "--json", file("whole.json"));
    assert.equal(whole.code, 0, whole.stderr);

    // The engine reports independent steps in the order they finish; times and that order aside,
    // equal, down to each stack's fingerprint of what it showed.
    const byUrn = (a: { urn: string }, b: { urn: string }) => a.urn.localeCompare(b.urn);
    const timeless = (f: ResultFile) => ({
      ...f,
      stacks: f.stacks.map((s) => ({
        ...s,
        durationMs: 0,
        changes: [...s.changes].sort(byUrn),
        fingerprint: s.fingerprint && { ...s.fingerprint, time: "" },
      })),
    });
    assert.ok(read(file("merged.json")).stacks.every((s) => s.fingerprint?.id));
    assert.deepEqual(timeless(read(file("merged.json"))), timeless(read(file("whole.json"))));
    const md = fs.readFileSync(file("merged.md"), "utf8");
    assert.match(md, /\| staging \| \d+ \| 0 \| 0 \| 0 \| 0 \| changes \|\n\| prod \| \d+ \| 0 \| 0 \| 0 \| 0 \| changes \|/);
    assert.match(md, /Not affected by this change, not previewed: dev\./);
  });

  it("a stack whose job left no result fails the report, with the stack named", async () => {
    const r = await gitops(repo.dir, "report", file("jobs"), "--affected", '["dev","staging","prod"]');
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /^error: dev: no preview result: the job that previews this stack wrote no result file\nhint: see that job's log/m,
    );
  });

  it("refuses results of another commit, a stack twice, and a file that is no preview result, naming each", async () => {
    fs.cpSync(file("jobs/preview-prod"), file("twice"), { recursive: true });
    repo.write("README.md", repo.read("README.md") + "\n");
    repo.commit("another push");
    await job("later", "dev");
    const r = await gitops(repo.dir, "report", file("jobs"), file("twice"), file("later"), path.join(repo.dir, "package.json"));
    assert.equal(r.code, 1, r.stderr);
    const err = r.stderr;
    assert.match(err, /^error: cannot merge these preview results:$/m);
    assert.match(
      err,
      new RegExp(
        `^  ${file("twice", "prod.json")}: stacks\\[0\\]\\.stack: 'prod' is also in ${file("jobs", "preview-prod", "prod.json")}$`,
        "m",
      ),
    );
    assert.match(
      err,
      new RegExp(
        `^  ${file("later", "dev.json")}: commit: is [0-9a-f]{7}, but ${file("jobs", "preview-prod", "prod.json")} is of [0-9a-f]{7}$`,
        "m",
      ),
    );
    assert.match(err, new RegExp(`^  ${path.join(repo.dir, "package.json")}: commit: is required$`, "m"));
    assert.match(err, /^hint: give the files that `gitops preview --json <file>` wrote for one commit/m);
    assert.doesNotMatch(err, /\n\s+at /, "no stack trace");
  });
});
