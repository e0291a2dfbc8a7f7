/**
 * gitops agent against a repository served by a real git daemon on loopback, with the real engine:
 * new commits are applied, a broken one backs off until a fix arrives, webhooks must be signed,
 * drift is seen between syncs and undone with --remediate, and a restart resumes from the clone.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { startGitDaemon, type GitDaemon } from "../fixtures/gitDaemon";
import { parseMetrics, startAgent } from "../helpers/agent";
import { gitops } from "../helpers/cli";
import { loggingEngine } from "../helpers/pulumi";
import { createFileRepo, fileStackYaml, git, type TestRepo } from "../helpers/repo";

function push(repo: TestRepo, content: string | undefined, message: string): string {
  repo.write("stacks/Pulumi.dev.yaml", fileStackYaml(content));
  const commit = repo.commit(message);
  repo.git("push", "-q", "origin", "main");
  return commit;
}

describe("gitops agent", () => {
  let repo: TestRepo;
  let daemon: GitDaemon;
  let workDir: string;
  let url: string;
  const greeting = () => fs.readFileSync(path.join(workDir, "repo", "target", "greeting.txt"), "utf8");
  const devCommit = async (a: { status(): Promise<{ stacks: { stack: string; commit?: string }[] }> }) =>
    (await a.status()).stacks.find((s) => s.stack === "dev")?.commit;

  before(async () => {
    repo = createFileRepo("hello");
    daemon = await startGitDaemon(path.dirname(repo.origin));
    url = daemon.url(path.basename(repo.origin));
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-agent-"));
  });
  after(async () => {
    await daemon.stop();
    repo.remove();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("applies each new commit, backs off a broken one, and applies its fix at once", async (t) => {
    const first = repo.git("rev-parse", "HEAD");
    const agent = await startAgent(t, workDir, [
      "--repo",
      url,
      "--interval",
      "1s",
      "--drift-interval",
      "0",
      "--backoff-base",
      "1h",
      "--backoff-cap",
      "2h",
    ]);
    assert.equal((await agent.get("/healthz")).status, 200);
    await agent.waitFor("ready after the first sync", async () => (await agent.get("/readyz")).status === 200);
    assert.equal(await devCommit(agent), first);
    assert.equal(greeting(), "hello");
    // The project's own .gitignore says `node_modules/`, which a link does not match: the agent's
    // clone must still look clean to git, or every later sync is refused as uncommitted changes.
    const clone = path.join(workDir, "repo");
    assert.ok(fs.lstatSync(path.join(clone, "node_modules")).isSymbolicLink(), "the agent's own dependencies, linked");
    assert.equal(git(clone, "status", "--porcelain"), "");

    const second = push(repo, "hi", "say hi");
    await agent.waitFor("the new commit applied", async () => (await devCommit(agent)) === second);
    assert.equal(greeting(), "hi");

    const broken = push(repo, undefined, "forget the content");
    await agent.waitFor("the broken commit failed", async () => (await agent.status()).agent.failure?.commit === broken);
    const failing = await agent.status();
    assert.equal(failing.agent.failure!.attempts, 1);
    assert.match(failing.agent.failure!.error, /drift-fixture:content/);
    assert.equal(failing.stacks[0].commit, second, "the stack keeps its last good commit");
    assert.equal(failing.stacks[0].result, "failed");
    assert.equal(greeting(), "hi", "the earlier state is intact");
    assert.equal(await agent.metric("gitops_agent_backoff_seconds"), 3600);
    assert.equal(await agent.metric("gitops_stack_sync_success", { stack: "dev" }), 0);
    assert.equal(await agent.metric("gitops_stack_failures_total", { stack: "dev" }), 1);
    assert.equal(await agent.metric("gitops_agent_syncs_total", { outcome: "failed" }), 1);
    await agent.waitFor(
      "polls that wait out the backoff",
      async () => ((await agent.metric("gitops_agent_syncs_total", { outcome: "backoff" })) ?? 0) >= 2,
    );
    assert.equal(await agent.metric("gitops_stack_failures_total", { stack: "dev" }), 1, "no retry before the backoff ends");

    const fixed = push(repo, "fixed", "put the content back");
    await agent.waitFor("the fix applied without waiting out the hour of backoff", async () => (await devCommit(agent)) === fixed);
    assert.equal(greeting(), "fixed");
    const healthy = await agent.status();
    assert.equal(healthy.agent.failure, undefined);
    assert.equal(healthy.agent.lastSync?.outcome, "applied");
    assert.equal(await agent.metric("gitops_agent_backoff_seconds"), 0);
    assert.equal(await agent.metric("gitops_stack_sync_success", { stack: "dev" }), 1);
    assert.ok((await agent.metric("gitops_stack_last_success_timestamp_seconds", { stack: "dev" }))! > Date.now() / 1000 - 120);

    const families = parseMetrics(await (await agent.get("/metrics")).text());
    const histogram = families.find((f) => f.name === "gitops_stack_update_duration_seconds");
    assert.equal(histogram?.type, "histogram");
    const count = (result: string) =>
      histogram.samples.find((s) => s.name.endsWith("_count") && s.labels.stack === "dev" && s.labels.result === result)?.value;
    assert.equal(count("failed"), 1);
    assert.equal(count("succeeded"), 3, "the first commit, its change and the fix");
    assert.ok(
      families.some((f) => f.name === "gitops_agent_process_cpu_seconds" && f.type === "counter"),
      "process metrics, prefixed",
    );

    const stopped = await agent.stop("SIGTERM");
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(fs.existsSync(path.join(workDir, "agent.pid")), false);
  });

  it("syncs at once on a signed webhook, refuses unsigned ones, and reports drift between syncs", async (t) => {
    const secretFile = path.join(workDir, "webhook-secret");
    fs.writeFileSync(secretFile, "s3cr3t-hook\n");
    const before = repo.git("rev-parse", "HEAD");
    // A mark inside the clone's .git: a new clone would not have it.
    const mark = path.join(workDir, "repo", ".git", "test-mark");
    fs.writeFileSync(mark, "");
    const agent = await startAgent(t, workDir, [
      "--repo",
      url,
      "--interval",
      "1h",
      "--drift-interval",
      "1s",
      "--webhook-secret-file",
      secretFile,
    ]);
    await agent.waitFor("ready", async () => (await agent.get("/readyz")).status === 200);
    assert.ok(fs.existsSync(mark), "the agent resumed with its clone");
    assert.equal(await devCommit(agent), before);

    const next = push(repo, "webhooked", "say webhooked");
    const body = JSON.stringify({ ref: "refs/heads/main", after: next });
    assert.equal((await agent.hook(body)).status, 401, "unsigned");
    assert.equal((await agent.hook(body, "wrong-secret")).status, 401, "signed with another secret");
    assert.equal((await agent.hook("x".repeat(1024 * 1024 + 1), "s3cr3t-hook")).status, 413, "too large, however signed");
    assert.equal(await agent.metric("gitops_agent_webhooks_total", { result: "unauthorized" }), 2);
    // One thing at a time, syncs before drift checks: once two drift checks have ended after the
    // refused webhooks, a sync they had queued would have run.
    const syncs = await agent.metricSum("gitops_agent_syncs_total");
    const checks = await agent.metricSum("gitops_stack_drift_checks_total", { stack: "dev" });
    await agent.waitFor(
      "two more drift checks",
      async () => (await agent.metricSum("gitops_stack_drift_checks_total", { stack: "dev" })) >= checks + 2,
    );
    assert.equal(await agent.metricSum("gitops_agent_syncs_total"), syncs, "a refused webhook syncs nothing");
    assert.equal((await agent.status()).agent.head, before, "a refused webhook fetches nothing");

    assert.equal((await agent.hook(body, "s3cr3t-hook")).status, 202);
    await agent.waitFor(
      "the pushed commit applied on the webhook, long before the 1h interval",
      async () => (await devCommit(agent)) === next,
    );
    assert.equal(greeting(), "webhooked");

    fs.writeFileSync(path.join(workDir, "repo", "target", "greeting.txt"), "tampered");
    await agent.waitFor("drift reported", async () => (await agent.metric("gitops_stack_drifted_resources", { stack: "dev" })) === 1);
    assert.deepEqual((await agent.status()).agent.lastDrift?.drifted, ["dev"]);
    assert.equal(greeting(), "tampered", "detection changes nothing");
    assert.equal((await agent.stop()).code, 0);
  });

  it("with --remediate, restores what the stack's commit declares", async (t) => {
    assert.equal(greeting(), "tampered");
    const agent = await startAgent(t, workDir, ["--repo", url, "--interval", "1h", "--drift-interval", "1s", "--remediate"]);
    await agent.waitFor("the drift remediated", () => greeting() === "webhooked");
    await agent.waitFor(
      "the drift gauge back to 0",
      async () => (await agent.metric("gitops_stack_drifted_resources", { stack: "dev" })) === 0,
    );
    assert.ok(((await agent.metric("gitops_stack_drift_checks_total", { stack: "dev", result: "remediated" })) ?? 0) >= 1);
    assert.equal((await agent.stop()).code, 0);
  });

  it("refuses a second agent on the same work dir", async (t) => {
    const one = await startAgent(t, workDir, ["--repo", url, "--interval", "1h", "--drift-interval", "0"]);
    await one.waitFor("ready", async () => (await one.get("/readyz")).status === 200);
    const two = await startAgent(t, workDir, ["--repo", url, "--interval", "1h", "--drift-interval", "0"]).catch((err: Error) => err);
    assert.ok(two instanceof Error, "the second agent must not start");
    assert.match(two.message, new RegExp(`another agent \\(pid ${one.pid}\\) works in`));
    assert.equal((await one.stop()).code, 0);
  });

  it("polls an unchanged branch with a fetch only: no engine process and no log line per poll, a metric instead", async (t) => {
    const log = path.join(workDir, "engine.log");
    const engine = loggingEngine(path.join(workDir, "engine"), log);
    const agent = await startAgent(t, workDir, ["--repo", url, "--interval", "1s", "--drift-interval", "0"], {
      PULUMI_GITOPS_ENGINE: engine,
    });
    await agent.waitFor("ready", async () => (await agent.get("/readyz")).status === 200);
    const idle = () => agent.metric("gitops_agent_syncs_total", { outcome: "in_sync" });
    const [calls, said, polls] = [fs.readFileSync(log, "utf8"), agent.output(), (await idle()) ?? 0];
    await agent.waitFor("three more polls", async () => ((await idle()) ?? 0) >= polls + 3);
    assert.equal(fs.readFileSync(log, "utf8"), calls, "no engine process ran for an idle poll");
    assert.equal(agent.output(), said, "an idle poll logs nothing");
    assert.equal((await agent.stop()).code, 0);
  });

  it("keeps a rolled-back stack on its pin: new commits skip it, --remediate restores the pinned commit", async (t) => {
    const clone = path.join(workDir, "repo");
    const target = git(clone, "rev-parse", "HEAD~1");
    // An operator rolls back where the agent runs (its clone and state), as with kubectl exec.
    const rollback = await gitops(clone, "rollback", "--stack", "dev", "--to", target, "--yes");
    assert.equal(rollback.code, 0, rollback.stderr);
    const pinned = greeting();
    assert.notEqual(pinned, "webhooked");

    const agent = await startAgent(t, workDir, ["--repo", url, "--interval", "1s", "--drift-interval", "1s", "--remediate"]);
    const newer = push(repo, "not while pinned", "a commit made while dev is pinned");
    await agent.waitFor("the new commit synced", async () => (await agent.status()).agent.lastSync?.commit === newer);
    const row = (await agent.status()).stacks[0];
    assert.equal(row.pin, target);
    assert.equal(row.commit, target, "the pinned stack was not applied");
    assert.equal(greeting(), pinned);

    const before = (await agent.metric("gitops_stack_drift_checks_total", { stack: "dev", result: "remediated" })) ?? 0;
    fs.writeFileSync(path.join(clone, "target", "greeting.txt"), "tampered while pinned");
    await agent.waitFor(
      "the drift remediated to the pinned commit",
      async () => ((await agent.metric("gitops_stack_drift_checks_total", { stack: "dev", result: "remediated" })) ?? 0) > before,
    );
    assert.equal(greeting(), pinned);
    const served = (await agent.status()).stacks;
    assert.equal(served[0].commit, target);
    assert.equal((await agent.stop()).code, 0);
    const cli = await gitops(clone, "status", "--json");
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(served, JSON.parse(cli.stdout), "/status serves what `gitops status --json` prints");
  });
});
