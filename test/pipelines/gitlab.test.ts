/**
 * The shipped .gitlab-ci.yml, executed: gitlab-ci-local runs its merge request job and its main
 * job as they are (shell executor), in a repository made from this project's tracked files. The
 * job's `npm ci` and gitops run for real. No GitLab server can run here: the notes and statuses go
 * to test/fixtures/gitlabApi.ts, which accepts only GitLab's documented API (CI_API_V4_URL). State
 * goes to a file backend given as the CI/CD variable PULUMI_BACKEND_URL, the passphrase as a file
 * variable PULUMI_CONFIG_PASSPHRASE_FILE, the token as GITLAB_TOKEN, as the README tells users.
 */
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { runGitlabJob } from "../fixtures/gitlabCiLocal";
import { GitLabApi, MR, PROJECT, TOKEN } from "../fixtures/gitlabApi";
import { createRepo, type TestRepo } from "../helpers/repo";

const MARKER = "<!-- pulumi-gitops preview: pulumi-gitops -->";
const APPLY_MARKER = "<!-- pulumi-gitops apply: pulumi-gitops -->";

describe("the GitLab pipeline, run by gitlab-ci-local against GitLab's documented API", () => {
  const gitlab = new GitLabApi();
  let repo: TestRepo;
  let tmp: string;
  let project: Record<string, string>;

  before(async () => {
    await gitlab.start();
    repo = createRepo();
    // The job runs `npm ci` in the checkout, as on a runner.
    fs.unlinkSync(path.join(repo.dir, "node_modules"));
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-gitlab-ci-"));
    const passphraseFile = path.join(tmp, "passphrase");
    fs.writeFileSync(passphraseFile, crypto.randomBytes(12).toString("hex"));
    // What GitLab gives every job of the project: its API, its ID, and the project's CI/CD variables.
    project = {
      CI_API_V4_URL: gitlab.url,
      CI_PROJECT_ID: PROJECT,
      GITLAB_TOKEN: TOKEN,
      PULUMI_BACKEND_URL: `file://${path.join(tmp, "state")}`,
      PULUMI_CONFIG_PASSPHRASE_FILE: passphraseFile,
    };
    fs.mkdirSync(path.join(tmp, "state"));
  });
  after(async () => {
    repo?.remove();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    await gitlab.stop();
  });

  let head: string;

  it("the merge request job notes the preview on the merge request and sets its status", async () => {
    repo.git("checkout", "-q", "-b", "scale-staging");
    const file = "stacks/Pulumi.staging.yaml";
    repo.write(file, repo.read(file).replace(/replicas: \w+/, "replicas: 3"));
    head = repo.commit("staging: 3 replicas");
    repo.git("push", "-q", "origin", "scale-staging");

    const r = await runGitlabJob(repo.dir, "preview", {
      ...project,
      CI_PIPELINE_SOURCE: "merge_request_event",
      CI_MERGE_REQUEST_IID: String(MR),
      CI_MERGE_REQUEST_TARGET_BRANCH_NAME: "main",
    });
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(gitlab.unexpected, []);
    const ours = gitlab.notes.filter((n) => n.body.startsWith(MARKER));
    assert.equal(ours.length, 1, r.output);
    assert.match(ours[0].body, /\| staging \| \d+ \| 0 \| 0 \| 0 \| 0 \| changes \|/);
    assert.match(ours[0].body, /Not affected by this change, not previewed: dev, prod\./);
    assert.equal(gitlab.statuses.length, 1);
    const [s] = gitlab.statuses;
    assert.deepEqual(
      { sha: s.sha, state: s.state, name: s.name, description: s.description },
      { sha: head, state: "success", name: "pulumi-gitops/preview", description: "changes in 1 stack" },
    );
    // The link is the job's, CI_JOB_URL as the pipeline gives it.
    assert.match(s.target_url ?? "", /\/-\/jobs\/\d+$/);
  });

  it("the main job applies the merge, sets pulumi-gitops/apply on it and notes the merged merge request", async () => {
    repo.git("checkout", "-q", "main");
    repo.git("merge", "-q", "--no-ff", "-m", "Merge branch 'scale-staging'", "scale-staging");
    repo.git("push", "-q", "origin", "main");
    const merged = repo.git("rev-parse", "HEAD");
    gitlab.mergeRequests.push({ iid: MR, state: "merged", sha: head, merge_commit_sha: merged });

    const r = await runGitlabJob(repo.dir, "apply", { ...project, CI_PIPELINE_SOURCE: "push" });
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(gitlab.unexpected, []);
    const s = gitlab.statuses.at(-1);
    assert.deepEqual(
      { sha: s?.sha, state: s?.state, name: s?.name, description: s?.description },
      { sha: merged, state: "success", name: "pulumi-gitops/apply", description: "applied dev, staging, prod" },
    );
    const state = JSON.parse(fs.readFileSync(path.join(tmp, "state", ".pulumi", "stacks", "pulumi-gitops", "staging.json"), "utf8"));
    const stack = state.checkpoint.latest.resources.find((res: { type: string }) => res.type === "pulumi:pulumi:Stack");
    assert.equal(stack.outputs.replicas, 3);
    const notes = gitlab.notes.filter((n) => n.body.startsWith(APPLY_MARKER));
    assert.equal(notes.length, 1, r.output);
    assert.ok(notes[0].body.includes(`## Pulumi apply at \`${merged.slice(0, 7)}\``), notes[0].body);
    assert.match(notes[0].body, /\| staging \| \d+ \| 0 \| 0 \| 0 \| 0 \| changes \|/);
  });
});
