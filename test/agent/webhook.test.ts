/**
 * The agent's push webhook fed by a real forge: Gitea on 127.0.0.1 delivers its own webhooks to a
 * running agent that follows a Gitea repository. With an hour's --interval, only a webhook can make
 * the agent fetch: a wrong secret is refused and changes nothing, a push to another branch is
 * ignored, and a push to the followed branch is applied.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { startGitea, type Gitea } from "../fixtures/gitea";
import { startAgent, type AgentRun } from "../helpers/agent";
import { createFileRepo, fileStackYaml, type TestRepo } from "../helpers/repo";

const REPO = "infra";
const SECRET = "s3cr3t-hook";

describe("the agent's webhook, delivered by Gitea", () => {
  let gitea: Gitea;
  let repo: TestRepo;
  let workDir: string;
  before(async () => {
    gitea = await startGitea();
    repo = createFileRepo("hello");
    await gitea.api("POST", "/user/repos", { name: REPO, default_branch: "main" });
    repo.git("remote", "set-url", "origin", gitea.pushUrl(REPO));
    repo.git("push", "-q", "origin", "main");
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-webhook-"));
  });
  after(async () => {
    repo?.remove();
    await gitea?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  const greeting = () => fs.readFileSync(path.join(workDir, "repo", "target", "greeting.txt"), "utf8");
  const devCommit = async (a: AgentRun) => (await a.status()).stacks.find((s) => s.stack === "dev")?.commit;
  const hooksReceived = (a: AgentRun) => a.metricSum("gitops_agent_webhooks_total");

  function push(branch: string, content: string): string {
    repo.git("checkout", "-q", "-B", branch);
    repo.write("stacks/Pulumi.dev.yaml", fileStackYaml(content));
    const commit = repo.commit(`say ${content}`);
    repo.git("push", "-q", "origin", branch);
    return commit;
  }

  it("refuses a wrong secret, ignores other branches, and applies a push to its branch", async (t) => {
    const secretFile = path.join(workDir, "webhook-secret");
    fs.writeFileSync(secretFile, `${SECRET}\n`);
    const first = repo.git("rev-parse", "HEAD");
    const agent = await startAgent(t, workDir, [
      "--repo",
      gitea.pushUrl(REPO),
      "--interval",
      "1h",
      "--drift-interval",
      "0",
      "--webhook-secret-file",
      secretFile,
    ]);
    await agent.waitFor("ready after the first sync", async () => (await agent.get("/readyz")).status === 200);
    assert.equal(await devCommit(agent), first);

    // Gitea's own webhook type, as a user would add it in the repository's settings.
    const addHook = (secret: string): Promise<{ id: number }> =>
      gitea.api("POST", `/repos/${gitea.user}/${REPO}/hooks`, {
        type: "gitea",
        active: true,
        events: ["push"],
        config: { url: `${agent.url}/hooks/git`, content_type: "json", secret },
      });
    const wrong = await addHook("not-the-secret");

    const refused = push("main", "refused");
    await agent.waitFor("Gitea's delivery with the wrong secret", async () => (await hooksReceived(agent)) === 1);
    assert.equal(await agent.metric("gitops_agent_webhooks_total", { result: "unauthorized" }), 1);
    const afterRefusal = await agent.status();
    assert.equal(afterRefusal.agent.head, first, "a refused webhook fetches nothing");
    assert.equal(await devCommit(agent), first, "nor applies anything");

    // Gitea's API cannot change a hook's secret: the user replaces the hook.
    await gitea.api("DELETE", `/repos/${gitea.user}/${REPO}/hooks/${wrong.id}`);
    await addHook(SECRET);
    const applied = push("main", "webhooked");
    await agent.waitFor(
      "the push applied on Gitea's webhook, long before the 1h interval",
      async () => (await devCommit(agent)) === applied,
    );
    assert.equal(greeting(), "webhooked");
    assert.equal((await agent.status()).agent.head, applied, "the refused commit's successor, fetched");
    assert.notEqual(refused, applied);
    assert.equal(await agent.metric("gitops_agent_webhooks_total", { result: "accepted" }), 1);
    await agent.waitFor("the sync finished", async () => (await agent.status()).agent.busy === undefined);

    const received = await hooksReceived(agent);
    const syncs = await agent.metricSum("gitops_agent_syncs_total");
    push("feature", "elsewhere");
    await agent.waitFor("Gitea's delivery of the push to another branch", async () => (await hooksReceived(agent)) === received + 1);
    assert.equal(await agent.metric("gitops_agent_webhooks_total", { result: "ignored" }), 1, "a push to another branch is ignored");
    assert.equal(await agent.metric("gitops_agent_webhooks_total", { result: "accepted" }), 1);
    assert.equal((await agent.status()).agent.busy, undefined, "and starts no sync");
    assert.equal(await agent.metricSum("gitops_agent_syncs_total"), syncs);
    assert.equal(await devCommit(agent), applied);
    assert.equal((await agent.stop()).code, 0);
  });
});
