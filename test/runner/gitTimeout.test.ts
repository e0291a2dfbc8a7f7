/**
 * A git remote that accepts a connection and never answers: apply fails with a clear error once
 * GITOPS_GIT_TIMEOUT has passed, before any engine work, instead of hanging the pipeline.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startSilentServer, type SilentServer } from "../fixtures/silentServer";
import { startCli } from "../helpers/cli";
import { resources } from "../helpers/pulumi";
import { createRepo, type TestRepo } from "../helpers/repo";

describe("git timeouts", () => {
  let repo: TestRepo;
  let silent: SilentServer;
  before(async () => {
    repo = createRepo(["dev"]);
    silent = await startSilentServer();
    repo.git("remote", "set-url", "origin", silent.url("infra.git"));
  });
  after(async () => {
    await silent.stop();
    repo.remove();
  });

  it("apply against a remote that never answers fails within the timeout, clearly, having deployed nothing", async () => {
    const out = await startCli(repo.dir, ["apply"], { GITOPS_GIT_TIMEOUT: "1s" }).done;
    assert.equal(out.code, 1, out.stderr);
    assert.ok(silent.connections() >= 1, "git did reach the remote");
    assert.match(out.stderr, /^error: cannot fetch main from the remote 'origin': the remote did not answer within 1s$/m);
    assert.match(out.stderr, /^hint: .*GITOPS_GIT_TIMEOUT/m);
    assert.doesNotMatch(out.stderr, /^\s+at /m, "no stack trace");
    assert.deepEqual(resources(repo.dir, "dev"), []);
  });

  it("a GITOPS_GIT_TIMEOUT that is no duration is a usage error", async () => {
    const out = await startCli(repo.dir, ["apply"], { GITOPS_GIT_TIMEOUT: "soon" }).done;
    assert.equal(out.code, 64, out.stderr);
    assert.match(out.stderr, /^error: GITOPS_GIT_TIMEOUT 'soon' is not a duration/m);
    assert.match(out.stderr, /^hint: write it like 30s/m);
  });
});
