/**
 * The agent when things around it go wrong, with no engine involved: a remote that never answers,
 * a clone git cannot check out, a stop in the middle of a hanging call, and state that a pod would
 * lose. Each failure gets the backoff, metrics and /status entry of a failed deploy.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { startSilentServer, type SilentServer } from "../fixtures/silentServer";
import { startAgent } from "../helpers/agent";
import { startCli } from "../helpers/cli";
import { createFileRepo, git, type TestRepo } from "../helpers/repo";

const HOUR_BACKOFF = ["--backoff-base", "1h", "--backoff-cap", "2h"];

describe("agent: failures outside the engine", () => {
  let silent: SilentServer;
  let workDir: string;
  before(async () => {
    silent = await startSilentServer();
  });
  after(() => silent.stop());
  beforeEach(() => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-agent-remote-"));
  });
  afterEach(() => fs.rmSync(workDir, { recursive: true, force: true }));

  it("a remote that never answers: the clone times out, backs off, shows in /status and the metrics; the agent stays responsive", async (t) => {
    const url = silent.url("infra.git");
    const before = silent.connections();
    const agent = await startAgent(t, workDir, ["--repo", url, "--interval", "1s", "--drift-interval", "0", ...HOUR_BACKOFF], {
      GITOPS_GIT_TIMEOUT: "1s",
    });
    await agent.waitFor("the failed clone reported", async () => (await agent.status()).agent.failure !== undefined);
    const { failure } = (await agent.status()).agent;
    assert.equal(failure!.commit, undefined, "no commit is known yet");
    assert.equal(failure!.attempts, 1);
    assert.match(
      failure!.error,
      new RegExp(`^cannot clone branch 'main' of ${url}: the remote did not answer within 1s\\n.*GITOPS_GIT_TIMEOUT`),
    );
    assert.equal(await agent.metric("gitops_agent_fetch_failures_total"), 1);
    assert.equal(await agent.metric("gitops_agent_syncs_total", { outcome: "failed" }), 1);
    assert.equal(await agent.metric("gitops_agent_backoff_seconds"), 3600);

    await agent.waitFor(
      "polls that wait out the backoff",
      async () => ((await agent.metric("gitops_agent_syncs_total", { outcome: "backoff" })) ?? 0) >= 2,
    );
    assert.equal(silent.connections() - before, 1, "the remote is not asked again before the backoff ends");
    assert.equal(await agent.metric("gitops_agent_fetch_failures_total"), 1);
    assert.equal((await agent.get("/healthz")).status, 200);
    assert.equal((await agent.get("/readyz")).status, 503, "not ready: no sync has completed");
    assert.equal(await agent.metric("gitops_agent_ready"), 0);

    // Without a webhook secret the hook is off; it takes only POST.
    assert.equal((await agent.hook("{}", "any")).status, 404);
    assert.equal((await agent.get("/hooks/git")).status, 405);
    const stopped = await agent.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
  });

  it("SIGTERM during a git call that hangs ends it at once: the agent exits 0 without waiting for the timeout", async (t) => {
    const before = silent.connections();
    const agent = await startAgent(
      t,
      workDir,
      ["--repo", silent.url("infra.git"), "--interval", "1h", "--drift-interval", "0", "--shutdown-timeout", "1h"],
      { GITOPS_GIT_TIMEOUT: "1h" },
    );
    await agent.waitFor("the clone connected", () => silent.connections() > before);
    assert.equal((await agent.get("/healthz")).status, 200, "responsive while git waits");
    const stopped = await agent.stop("SIGTERM");
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(fs.existsSync(path.join(workDir, "repo", ".git")), false, "no clone was made");
    assert.equal(fs.existsSync(path.join(workDir, "agent.pid")), false);
  });

  describe("with a repository", () => {
    let repo: TestRepo;
    before(() => {
      repo = createFileRepo("hello");
    });
    after(() => repo.remove());

    it("an unexpected git error (a stale index.lock) gets the backoff, metrics and /status entry of a failed deploy", async (t) => {
      // The clone a crashed agent left, with git's lock file still in it.
      const clone = path.join(workDir, "repo");
      git(workDir, "clone", "-q", "--origin", "origin", "--branch", "main", "--single-branch", repo.origin, clone);
      fs.writeFileSync(path.join(clone, ".git", "index.lock"), "");
      const tip = repo.git("rev-parse", "HEAD");
      const agent = await startAgent(t, workDir, ["--repo", repo.origin, "--interval", "1s", "--drift-interval", "0", ...HOUR_BACKOFF]);
      await agent.waitFor("the failed sync reported", async () => (await agent.status()).agent.failure !== undefined);
      const { agent: state } = await agent.status();
      assert.equal(state.failure!.commit, tip);
      assert.equal(state.failure!.attempts, 1);
      assert.match(state.failure!.error, /^unexpected error: .*index\.lock/s);
      assert.equal(state.lastSync?.outcome, "failed");
      assert.equal(await agent.metric("gitops_agent_syncs_total", { outcome: "failed" }), 1);
      assert.equal(await agent.metric("gitops_agent_backoff_seconds"), 3600);
      await agent.waitFor(
        "polls that wait out the backoff",
        async () => ((await agent.metric("gitops_agent_syncs_total", { outcome: "backoff" })) ?? 0) >= 2,
      );
      assert.equal(await agent.metric("gitops_agent_syncs_total", { outcome: "failed" }), 1, "no retry before the backoff ends");
      assert.equal((await agent.stop()).code, 0);
    });

    it("refuses, inside a pod, state that would live only in the pod; --persistent-state or a shared backend lets it run", async (t) => {
      const pod = { KUBERNETES_SERVICE_HOST: "10.96.0.1" };
      for (const extra of [[], ["--backend", `file://${workDir}/state`]]) {
        const out = await startCli(
          os.tmpdir(),
          ["agent", "--repo", repo.origin, "--work-dir", workDir, "--listen", "127.0.0.1:0", ...extra],
          pod,
        ).done;
        assert.equal(out.code, 3, out.stderr);
        assert.match(out.stderr, /^error: inside a Kubernetes pod, the agent's state would live in .*lost with the pod/m);
        assert.match(out.stderr, /^hint: keep the state in a shared backend .*--persistent-state$/m);
        assert.deepEqual(fs.readdirSync(workDir), [], "refused before any work");
      }
      for (const [extra, env] of [
        [["--persistent-state"], pod],
        [["--backend", "s3://state?region=eu-west-1"], pod],
        [[], {}],
      ] as const) {
        const agent = await startAgent(
          t,
          workDir,
          ["--repo", silent.url("infra.git"), "--interval", "1h", "--drift-interval", "0", ...extra],
          { ...env, GITOPS_GIT_TIMEOUT: "1h" },
        );
        assert.equal((await agent.stop()).code, 0);
      }
    });
  });
});
