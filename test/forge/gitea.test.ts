/**
 * Pull requests on a real forge: Gitea (built by provision/gitea.sh) on 127.0.0.1, a repository made
 * from this project pushed to it over HTTP, pull requests opened through its API, and the real
 * gitops CLI run as a Gitea Actions job would run it (GITHUB_API_URL, GITHUB_REPOSITORY, the event
 * payload). Every check reads Gitea's API, never the runner's own client.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { GITEA_MAX_COMMENT } from "../../runner/forge/github";
import { startGitea, type Gitea } from "../fixtures/gitea";
import { startCli, type CliResult } from "../helpers/cli";
import { createRepo, type TestRepo } from "../helpers/repo";

const REPO = "infra";
const MARKER = "<!-- pulumi-gitops preview: pulumi-gitops -->";
const APPLY_MARKER = "<!-- pulumi-gitops apply: pulumi-gitops -->";

interface GiteaComment {
  id: number;
  body: string;
}
interface GiteaStatus {
  context: string;
  status: string;
  description: string;
  target_url: string;
}

describe("pull requests on Gitea", () => {
  let gitea: Gitea;
  let repo: TestRepo;
  /** What the README tells users to give the pipeline's token: comments and statuses, no more. */
  let ciToken: string;
  before(async () => {
    gitea = await startGitea();
    ciToken = await gitea.createToken("ci", ["write:issue", "write:repository"]);
    repo = createRepo();
    await gitea.api("POST", "/user/repos", { name: REPO, default_branch: "main" });
    repo.git("remote", "set-url", "origin", gitea.pushUrl(REPO));
    repo.git("push", "-q", "origin", "main");
  });
  after(async () => {
    repo?.remove();
    await gitea?.stop();
  });

  const owner = () => gitea.user;
  const comments = (pr: number): Promise<GiteaComment[]> => gitea.api("GET", `/repos/${owner()}/${REPO}/issues/${pr}/comments`);
  const ours = async (pr: number) => (await comments(pr)).filter((c) => c.body.startsWith(MARKER));
  const statuses = (sha: string): Promise<GiteaStatus[]> => gitea.api("GET", `/repos/${owner()}/${REPO}/statuses/${sha}`);

  /** A branch off main with one commit made by `change`, pushed, with a pull request into main. */
  async function openPrWith(branch: string, title: string, change: () => void): Promise<number> {
    repo.git("checkout", "-q", "main");
    repo.git("checkout", "-q", "-b", branch);
    change();
    repo.commit(title);
    repo.git("push", "-q", "origin", branch);
    const pr = await gitea.api("POST", `/repos/${owner()}/${REPO}/pulls`, { head: branch, base: "main", title });
    return pr.number;
  }

  const openPr = (branch: string, replicas: number) => openPrWith(branch, `staging: ${replicas} replicas`, () => setReplicas(replicas));

  function setReplicas(n: number): void {
    setReplicasText(String(n));
  }

  function setReplicasText(value: string): void {
    const file = "stacks/Pulumi.staging.yaml";
    repo.write(file, repo.read(file).replace(/replicas: \w+/, `replicas: ${value}`));
  }

  /** Runs gitops as a Gitea Actions job of pull request `pr` would, on the checked-out head. */
  function ciRun(pr: number, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    const eventPath = path.join(repo.dir, "..", `event-${pr}.json`);
    const head = repo.git("rev-parse", "HEAD");
    fs.writeFileSync(eventPath, JSON.stringify({ action: "synchronized", number: pr, pull_request: { number: pr, head: { sha: head } } }));
    return startCli(repo.dir, args, {
      GITEA_ACTIONS: "true",
      GITHUB_API_URL: gitea.apiUrl,
      GITHUB_REPOSITORY: `${owner()}/${REPO}`,
      GITHUB_EVENT_PATH: eventPath,
      GITHUB_TOKEN: ciToken,
      ...env,
    }).done;
  }

  it("keeps one comment per pull request, updated on every push, and sets the preview status", async () => {
    const pr = await openPr("scale-staging", 3);
    const first = await ciRun(pr, ["preview", "--comment", "--status", "--target-url", "http://ci.example.invalid/jobs/1"]);
    assert.equal(first.code, 0, first.stderr);
    const [created] = await ours(pr);
    assert.equal((await ours(pr)).length, 1);
    assert.match(created.body, /\| staging \| \d+ \| 0 \| 0 \| 0 \| 0 \| changes \|/);
    assert.match(created.body, /Not affected by this change, not previewed: dev, prod\./);
    let head = repo.git("rev-parse", "HEAD");
    assert.ok(created.body.includes(`at \`${head.slice(0, 7)}\``));
    const [status] = (await statuses(head)).filter((s) => s.context === "pulumi-gitops/preview");
    assert.deepEqual(
      { status: status.status, description: status.description, target_url: status.target_url },
      { status: "success", description: "changes in 1 stack", target_url: "http://ci.example.invalid/jobs/1" },
    );

    // A second push: the same comment, now about the new head.
    setReplicas(4);
    repo.commit("staging: 4 replicas");
    repo.git("push", "-q", "origin", "scale-staging");
    const second = await ciRun(pr, ["preview", "--comment", "--status"]);
    assert.equal(second.code, 0, second.stderr);
    const after2 = await ours(pr);
    assert.equal(after2.length, 1);
    assert.equal(after2[0].id, created.id);
    head = repo.git("rev-parse", "HEAD");
    assert.ok(after2[0].body.includes(`at \`${head.slice(0, 7)}\``), after2[0].body);
    assert.equal((await statuses(head)).find((s) => s.context === "pulumi-gitops/preview")?.status, "success");

    // A push that takes the change back: the comment says no stack is affected any more.
    setReplicas(1);
    repo.commit("staging: back to 1 replica");
    repo.git("push", "-q", "origin", "scale-staging");
    const third = await ciRun(pr, ["preview", "--comment", "--status"]);
    assert.equal(third.code, 0, third.stderr);
    const after3 = await ours(pr);
    assert.equal(after3.length, 1);
    assert.equal(after3[0].id, created.id);
    assert.match(after3[0].body, /This push affects no stack \(dev, staging, prod\): nothing to preview/);
    assert.doesNotMatch(after3[0].body, /\| staging \|/);
    head = repo.git("rev-parse", "HEAD");
    assert.equal((await statuses(head)).find((s) => s.context === "pulumi-gitops/preview")?.description, "no changes");
  });

  it("sets the preview status to failure naming the failing stack, and keeps its error in the comment", async () => {
    const pr = await openPrWith("break-staging", "a program change that breaks staging", () =>
      repo.write(
        "index.ts",
        repo.read("index.ts") + 'if (pulumi.getStack() === "staging") throw new Error("staging is broken on purpose");\n',
      ),
    );
    const r = await ciRun(pr, ["preview", "--comment", "--status"]);
    assert.equal(r.code, 1, r.stderr);
    const [c] = await ours(pr);
    assert.match(c.body, /\| staging \| .* \| ❌ failed \|/);
    assert.match(c.body, /staging is broken on purpose/);
    assert.match(c.body, /\| dev \| .* \| changes \|/);
    const status = (await statuses(repo.git("rev-parse", "HEAD"))).find((s) => s.context === "pulumi-gitops/preview");
    assert.deepEqual({ status: status?.status, description: status?.description }, { status: "failure", description: "failed: staging" });
  });

  it("says on the pull request when the preview stops before any stack runs", async () => {
    const pr = await openPrWith("bad-config", "staging: replicas as text", () => setReplicasText("many"));
    const r = await ciRun(pr, ["preview", "--comment", "--status"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: stack configuration is invalid/m);
    const [c] = await ours(pr);
    assert.match(
      c.body,
      /The preview stopped before any stack ran:\n\n```\nstack configuration is invalid:\n.*Pulumi\.staging\.yaml.*replicas/,
    );
    const status = (await statuses(repo.git("rev-parse", "HEAD"))).find((s) => s.context === "pulumi-gitops/preview");
    assert.deepEqual(
      { status: status?.status, description: status?.description },
      { status: "failure", description: "stack configuration is invalid:" },
    );
  });

  it("finds its comment among 35 others and updates it", async () => {
    const pr = await openPr("busy-pr", 5);
    for (let i = 1; i <= 35; i++) await gitea.api("POST", `/repos/${owner()}/${REPO}/issues/${pr}/comments`, { body: `review note ${i}` });
    const first = await ciRun(pr, ["preview", "--comment"]);
    assert.equal(first.code, 0, first.stderr);
    for (let i = 36; i <= 70; i++) await gitea.api("POST", `/repos/${owner()}/${REPO}/issues/${pr}/comments`, { body: `review note ${i}` });
    const [before2] = await ours(pr);
    setReplicas(6);
    repo.commit("staging: 6 replicas");
    repo.git("push", "-q", "origin", "busy-pr");
    const second = await ciRun(pr, ["preview", "--comment"]);
    assert.equal(second.code, 0, second.stderr);
    const all = await comments(pr);
    assert.equal(all.length, 71);
    const mine = all.filter((c) => c.body.startsWith(MARKER));
    assert.equal(mine.length, 1);
    assert.equal(mine[0].id, before2.id);
    assert.ok(mine[0].body.includes(`at \`${repo.git("rev-parse", "--short=7", "HEAD")}\``));
  });

  it("keeps the summary and says what it left out when the report is over the comment budget", async () => {
    const pr = await openPr("big-report", 7);
    const r = await ciRun(pr, [
      "preview",
      "--comment",
      "--comment-max-chars",
      "1200",
      "--full-report-url",
      "http://ci.example.invalid/artifacts/preview.json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [c] = await ours(pr);
    assert.ok(c.body.length <= 1200, `${c.body.length} characters`);
    assert.match(c.body, /\| staging \| \d+ \| 0 \| 0 \| 0 \| 0 \| changes \|/);
    assert.match(
      c.body,
      /> Report size limit \([\d,]+ characters\): \d+ more changes? not shown\. The full result is in the \[full report\]\(http:\/\/ci\.example\.invalid\/artifacts\/preview\.json\)\./,
    );
  });

  it("takes a comment as long as the budget the runner gives Gitea", async () => {
    const pr = await openPr("long-comment", 9);
    const body = "x".repeat(GITEA_MAX_COMMENT);
    const posted: GiteaComment = await gitea.api("POST", `/repos/${owner()}/${REPO}/issues/${pr}/comments`, { body });
    const read: GiteaComment = await gitea.api("GET", `/repos/${owner()}/${REPO}/issues/comments/${posted.id}`);
    assert.equal(read.body.length, GITEA_MAX_COMMENT);
  });

  it("keeps the preview's exit code and result when the forge answers with an error", async () => {
    const pr = await openPr("forge-down", 8);
    const report = path.join(repo.dir, "..", "forge-down.md");
    const r = await ciRun(pr, ["preview", "--comment", "--status", "--detailed-exitcode", "--report", report], {
      GITHUB_REPOSITORY: `${owner()}/no-such-repo`,
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^error: Gitea answered 404 to listing the comments of ${owner()}/no-such-repo#${pr}: .+\nhint: check --forge-repo and --pr`,
        "m",
      ),
    );
    assert.match(r.stderr, /^error: Gitea answered 404 to setting the status pulumi-gitops\/preview on [0-9a-f]{7}: /m);
    assert.match(fs.readFileSync(report, "utf8"), /\| staging \|/);
    assert.deepEqual(await ours(pr), []);
  });

  it("refuses before previewing when the token or the pull request is missing", async () => {
    const noToken = await ciRun(1, ["preview", "--comment"], { GITHUB_TOKEN: "" });
    assert.equal(noToken.code, 64, noToken.stderr);
    assert.match(
      noToken.stderr,
      /^error: no token to post to Gitea: none of \$GITOPS_FORGE_TOKEN, \$GITEA_TOKEN, \$GITHUB_TOKEN is set\nhint: /m,
    );
    assert.doesNotMatch(noToken.stderr, /previewing/);
    const noPr = await ciRun(1, ["preview", "--comment"], { GITHUB_EVENT_PATH: "" });
    assert.equal(noPr.code, 64, noPr.stderr);
    assert.match(noPr.stderr, /^error: no pull request to comment on\nhint: run the job on a pull_request event, or pass --pr <number>/m);
  });

  it("sets pulumi-gitops/apply on the main commit apply deployed", async () => {
    const pr = await openPr("to-merge", 2);
    await gitea.api("POST", `/repos/${owner()}/${REPO}/pulls/${pr}/merge`, { Do: "merge" });
    repo.git("checkout", "-q", "main");
    repo.git("pull", "-q", "--ff-only", "origin", "main");
    const merged = repo.git("rev-parse", "HEAD");
    const r = await startCli(
      repo.dir,
      ["apply", "--stack", "staging", "--status", "--forge", "gitea", "--forge-url", gitea.apiUrl, "--forge-repo", `${owner()}/${REPO}`],
      {
        GITEA_TOKEN: ciToken,
      },
    ).done;
    assert.equal(r.code, 0, r.stderr);
    const status = (await statuses(merged)).find((s) => s.context === "pulumi-gitops/apply");
    assert.deepEqual({ status: status?.status, description: status?.description }, { status: "success", description: "applied staging" });
  });

  const applyCli = (args: string[]) =>
    startCli(repo.dir, ["apply", ...args, "--forge", "gitea", "--forge-url", gitea.apiUrl, "--forge-repo", `${owner()}/${REPO}`], {
      GITEA_TOKEN: ciToken,
    }).done;

  it("leaves a note on the pull request merged as the commit apply deployed, and none for a direct push", async () => {
    const pr = await openPr("note-after-merge", 5);
    await gitea.api("POST", `/repos/${owner()}/${REPO}/pulls/${pr}/merge`, { Do: "merge" });
    repo.git("checkout", "-q", "main");
    repo.git("pull", "-q", "--ff-only", "origin", "main");
    const merged = repo.git("rev-parse", "HEAD");
    const r = await applyCli(["--stack", "staging", "--comment"]);
    assert.equal(r.code, 0, r.stderr);
    const notes = (await comments(pr)).filter((c) => c.body.startsWith(APPLY_MARKER));
    assert.equal(notes.length, 1, r.stderr);
    assert.ok(notes[0].body.includes(`## Pulumi apply at \`${merged.slice(0, 7)}\``), notes[0].body);
    assert.match(notes[0].body, /\| staging \| 0 \| \d+ \| 0 \| 0 \| \d+ \| changes \|/);

    // A commit pushed straight to main was merged as no pull request: nothing to note, no error.
    setReplicas(6);
    repo.commit("staging: 6 replicas, pushed straight to main");
    repo.git("push", "-q", "origin", "main");
    const direct = await applyCli(["--stack", "staging", "--comment"]);
    assert.equal(direct.code, 0, direct.stderr);
    assert.doesNotMatch(direct.stderr, /^error:/m);
    assert.equal((await comments(pr)).filter((c) => c.body.startsWith(APPLY_MARKER)).length, 1);
  });
});
