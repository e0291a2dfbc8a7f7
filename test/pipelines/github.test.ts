/**
 * The shipped GitHub workflows, executed: act (provision/act.sh) runs .github/workflows/preview.yml
 * on a pull_request event and apply.yml on the push of its merge, as they are, in a repository made
 * from this project's tracked files and pushed to a real Gitea (provision/gitea.sh), as Gitea
 * Actions runs them (GITHUB_API_URL is Gitea's API, GITEA_ACTIONS is set). The job's `npm ci` and gitops run for real;
 * state goes to a file backend given as the repository variable PULUMI_BACKEND_URL, the passphrase
 * as the secret PULUMI_CONFIG_PASSPHRASE, the token as GITHUB_TOKEN, as the README tells users.
 * actions/upload-artifact and download-artifact cannot be downloaded here: local stand-ins
 * (test/fixtures/actions) pass the matrix jobs' results to the report job through a directory.
 * Every check reads Gitea's API or the backend.
 */
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { runWorkflow, type WorkflowRun } from "../fixtures/act";
import { startGitea, type Gitea } from "../fixtures/gitea";
import { createRepo, type TestRepo } from "../helpers/repo";

const REPO = "infra";
const MARKER = "<!-- pulumi-gitops preview: pulumi-gitops -->";
const APPLY_MARKER = "<!-- pulumi-gitops apply: pulumi-gitops -->";

describe("the GitHub workflows, run by act against Gitea", () => {
  let gitea: Gitea;
  let repo: TestRepo;
  let ciToken: string;
  let backend: string;
  const passphrase = crypto.randomBytes(12).toString("hex");

  before(async () => {
    gitea = await startGitea();
    ciToken = await gitea.createToken("ci", ["write:issue", "write:repository"]);
    repo = createRepo();
    // The job runs `npm ci` in its own copy of the checkout, as on a runner.
    fs.unlinkSync(path.join(repo.dir, "node_modules"));
    await gitea.api("POST", "/user/repos", { name: REPO, default_branch: "main" });
    repo.git("remote", "set-url", "origin", gitea.pushUrl(REPO));
    repo.git("push", "-q", "origin", "main");
    backend = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-act-state-"));
  });
  after(async () => {
    repo?.remove();
    if (backend) fs.rmSync(backend, { recursive: true, force: true });
    await gitea?.stop();
  });

  const owner = () => gitea.user;
  const workflow = async (file: string, event: string, payload: unknown) => {
    const artifacts = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-act-artifacts-"));
    const standIn = (name: string) => path.join(__dirname, "..", "fixtures", "actions", name);
    const w: WorkflowRun = {
      cwd: repo.dir,
      workflow: `.github/workflows/${file}`,
      event,
      payload,
      instance: new URL(gitea.url).host,
      // As Gitea Actions runs the workflow (its runner sets GITEA_ACTIONS): the forge is Gitea, whose
      // API has GitHub's comment and status routes but its own for a commit's merged pull request.
      env: { GITHUB_API_URL: gitea.apiUrl, GITEA_ACTIONS: "true", ARTIFACTS_DIR: artifacts },
      vars: { PULUMI_BACKEND_URL: `file://${backend}` },
      secrets: { PULUMI_CONFIG_PASSPHRASE: passphrase, GITHUB_TOKEN: ciToken },
      actions: {
        "actions/upload-artifact@v4": standIn("upload-artifact"),
        "actions/download-artifact@v4": standIn("download-artifact"),
      },
    };
    try {
      return await runWorkflow(w);
    } finally {
      fs.rmSync(artifacts, { recursive: true, force: true });
    }
  };
  const statuses = (sha: string): Promise<{ context: string; status: string; description: string; target_url: string }[]> =>
    gitea.api("GET", `/repos/${owner()}/${REPO}/statuses/${sha}`);

  let pr: { number: number; head: { sha: string } };

  it("preview.yml previews each affected stack in its own job and merges them into one comment and status", async () => {
    repo.git("checkout", "-q", "-b", "scale-staging");
    for (const [file, n] of [
      ["stacks/Pulumi.staging.yaml", 3],
      ["stacks/Pulumi.prod.yaml", 4],
    ] as const)
      repo.write(file, repo.read(file).replace(/replicas: \w+/, `replicas: ${n}`));
    repo.commit("staging: 3 replicas, prod: 4");
    repo.git("push", "-q", "origin", "scale-staging");
    pr = await gitea.api("POST", `/repos/${owner()}/${REPO}/pulls`, { head: "scale-staging", base: "main", title: "staging: 3 replicas" });
    assert.equal(pr.head.sha, repo.git("rev-parse", "HEAD"));

    const r = await workflow("preview.yml", "pull_request", { action: "opened", number: pr.number, pull_request: pr });
    assert.equal(r.code, 0, r.output);
    // One matrix job per affected stack (act names them preview-1, preview-2), then the report job.
    for (const job of ["affected", "preview-1", "preview-2", "report"])
      assert.match(r.output, new RegExp(`\\[pulumi-gitops preview/${job}\\s*\\] .*Job succeeded`));
    const comments: { body: string }[] = await gitea.api("GET", `/repos/${owner()}/${REPO}/issues/${pr.number}/comments`);
    assert.equal(comments.length, 1, r.output);
    assert.ok(comments[0].body.startsWith(MARKER), comments[0].body);
    assert.match(comments[0].body, /\| staging \| \d+ \| 0 \| 0 \| 0 \| 0 \| changes \|\n\| prod \| \d+ \| 0 \| 0 \| 0 \| 0 \| changes \|/);
    assert.match(comments[0].body, /Not affected by this change, not previewed: dev\./);
    const status = (await statuses(pr.head.sha)).find((s) => s.context === "pulumi-gitops/preview");
    assert.deepEqual(
      { status: status?.status, description: status?.description },
      { status: "success", description: "changes in 2 stacks" },
    );
    // The link is the workflow run's, from the environment act gives the job as GitHub would.
    assert.equal(status?.target_url, `https://${new URL(gitea.url).host}/${owner()}/${REPO}/actions/runs/1`);
  });

  it("apply.yml deploys the merge, sets pulumi-gitops/apply on it and notes the merged pull request", async () => {
    await gitea.api("POST", `/repos/${owner()}/${REPO}/pulls/${pr.number}/merge`, { Do: "merge" });
    repo.git("checkout", "-q", "main");
    repo.git("pull", "-q", "--ff-only", "origin", "main");
    const merged = repo.git("rev-parse", "HEAD");

    const r = await workflow("apply.yml", "push", {
      ref: "refs/heads/main",
      before: pr.head.sha,
      after: merged,
      head_commit: { id: merged },
    });
    assert.equal(r.code, 0, r.output);
    const status = (await statuses(merged)).find((s) => s.context === "pulumi-gitops/apply");
    assert.deepEqual(
      { status: status?.status, description: status?.description },
      { status: "success", description: "applied dev, staging, prod" },
    );
    // The state is in the backend the repository variable named, with the staging stack's new size.
    const state = JSON.parse(fs.readFileSync(path.join(backend, ".pulumi", "stacks", "pulumi-gitops", "staging.json"), "utf8"));
    const stack = state.checkpoint.latest.resources.find((res: { type: string }) => res.type === "pulumi:pulumi:Stack");
    assert.equal(stack.outputs.replicas, 3);
    const notes = (await gitea.api("GET", `/repos/${owner()}/${REPO}/issues/${pr.number}/comments`)).filter((c: { body: string }) =>
      c.body.startsWith(APPLY_MARKER),
    );
    assert.equal(notes.length, 1, r.output);
    assert.ok(notes[0].body.includes(`## Pulumi apply at \`${merged.slice(0, 7)}\``), notes[0].body);
    assert.match(notes[0].body, /\| staging \| \d+ \| 0 \| 0 \| 0 \| 0 \| changes \|/);
  });
});
