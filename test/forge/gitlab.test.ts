/**
 * Merge requests on GitLab. No GitLab server can run here, so the real gitops CLI, on a real
 * repository, talks to test/fixtures/gitlabApi.ts, a local HTTP server that accepts only what
 * GitLab's REST API documents.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GitLabApi, MR, PROJECT, TOKEN } from "../fixtures/gitlabApi";
import { startCli, type CliResult } from "../helpers/cli";
import { createRepo, type TestRepo } from "../helpers/repo";

const MARKER = "<!-- pulumi-gitops preview: pulumi-gitops -->";

describe("merge requests on GitLab (a server checking GitLab's documented API)", () => {
  const gitlab = new GitLabApi();
  let repo: TestRepo;
  before(async () => {
    await gitlab.start();
    repo = createRepo();
    repo.git("checkout", "-q", "-b", "scale-staging");
  });
  after(async () => {
    repo?.remove();
    await gitlab.stop();
  });

  function push(replicas: number): string {
    const file = "stacks/Pulumi.staging.yaml";
    repo.write(file, repo.read(file).replace(/replicas: \d+/, `replicas: ${replicas}`));
    return repo.commit(`staging: ${replicas} replicas`);
  }

  /** gitops as a GitLab merge request pipeline job runs it. */
  const ciRun = (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
    startCli(repo.dir, args, {
      GITLAB_CI: "true",
      CI_API_V4_URL: gitlab.url,
      CI_PROJECT_ID: PROJECT,
      CI_MERGE_REQUEST_IID: String(MR),
      CI_COMMIT_SHA: repo.git("rev-parse", "HEAD"),
      CI_JOB_URL: "https://gitlab.example.invalid/infra/-/jobs/9",
      GITLAB_TOKEN: TOKEN,
      ...env,
    }).done;

  it("keeps one note among 250 others across pages, updated on a second push, and sets the status", async () => {
    for (let i = 0; i < 120; i++) gitlab.addNote(`review note ${i}`);
    gitlab.addNote("added 1 commit", true);
    let head = push(3);
    const first = await ciRun(["preview", "--comment", "--status"]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(gitlab.unexpected, []);
    const ours = () => gitlab.notes.filter((n) => n.body.startsWith(MARKER));
    assert.equal(ours().length, 1);
    const id = ours()[0].id;
    assert.match(ours()[0].body, /\| staging \| \d+ \| 0 \| 0 \| 0 \| 0 \| changes \|/);
    assert.deepEqual(gitlab.statuses, [
      {
        sha: head,
        state: "success",
        name: "pulumi-gitops/preview",
        description: "changes in 1 stack",
        target_url: "https://gitlab.example.invalid/infra/-/jobs/9",
      },
    ]);

    for (let i = 120; i < 250; i++) gitlab.addNote(`review note ${i}`);
    head = push(4);
    const second = await ciRun(["preview", "--comment", "--status"]);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(gitlab.unexpected, []);
    assert.equal(gitlab.notes.length, 252);
    assert.deepEqual(
      ours().map((n) => n.id),
      [id],
    );
    assert.ok(ours()[0].body.includes(`at \`${head.slice(0, 7)}\``));
    assert.equal(gitlab.statuses.at(-1)?.sha, head);
  });

  it("keeps the preview's exit code when GitLab refuses, and says so", async () => {
    gitlab.failWith = 403;
    try {
      const r = await ciRun(["preview", "--comment", "--status", "--detailed-exitcode"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^error: GitLab answered 403 to listing the notes of merge request !7 of 42: .*\nhint: the token may not do this/m,
      );
      assert.match(r.stderr, /^error: GitLab answered 403 to setting the status pulumi-gitops\/preview on [0-9a-f]{7}/m);
    } finally {
      gitlab.failWith = undefined;
    }
  });
});
