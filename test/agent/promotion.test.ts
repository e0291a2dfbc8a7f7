/**
 * The agent follows the same promotion gates as apply: it deploys dev and staging, reports prod as
 * waiting at its gate (in /status and the metrics) while the commit soaks, then promotes it on a
 * later sync, recording that the agent did, with the real engine and a real git daemon.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { startGitDaemon, type GitDaemon } from "../fixtures/gitDaemon";
import { startAgent } from "../helpers/agent";
import { createCounterRepo, type TestRepo } from "../helpers/repo";

/** A deadline for a whole sync of three stacks on a loaded machine: not a timing assertion. */
const DEADLINE = 900_000;

interface Row {
  stack: string;
  commit?: string;
  gate?: { candidate?: string; open: boolean; reason: string; soakUntil?: string };
  promoted?: { commit: string; by: string; time: string; passed: string[] };
}

describe("gitops agent with promotion stages", () => {
  let repo: TestRepo;
  let daemon: GitDaemon;
  let workDir: string;
  let server: http.Server;
  let hits = 0;
  let paths: string;
  let rules: (soak: string) => string;
  before(async () => {
    server = http.createServer((_req, res) => {
      hits++;
      res.writeHead(200).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    repo = createCounterRepo({ dev: { count: 1, version: "v1" }, staging: { count: 1, version: "v1" }, prod: { count: 1, version: "v1" } });
    paths = repo.read("stacks/gitops.yaml");
    rules = (soak) => `${paths}stages:
  staging:
    checks:
      - name: health
        http: { url: "http://127.0.0.1:${port}/health/\${outputs.version}" }
  prod:
    from: staging
    soak: ${soak}
`;
    // An hour: prod waits, however slow the machine; a later commit shortens it (see the test).
    repo.write("stacks/gitops.yaml", rules("1h"));
    repo.commit("prod is promoted from staging");
    repo.git("push", "-q", "origin", "main");
    daemon = await startGitDaemon(path.dirname(repo.origin));
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-agent-"));
  });
  after(async () => {
    await daemon.stop();
    await new Promise((r) => server.close(r));
    repo.remove();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("holds prod at its gate while the commit soaks, then promotes it", async (t) => {
    const head = repo.git("rev-parse", "HEAD");
    const url = daemon.url(path.basename(repo.origin));
    const agent = await startAgent(t, workDir, ["--repo", url, "--interval", "1s", "--drift-interval", "0"]);
    const rows = async () => (await agent.status()).stacks as Row[];
    const prod = async () => (await rows()).find((s) => s.stack === "prod");
    await agent.waitFor("staging deployed and prod waiting", async () => (await prod())?.gate?.candidate === head, DEADLINE);
    const waitingProd = (await prod())!;
    assert.equal(waitingProd.commit, undefined, "prod not deployed while the commit soaks");
    assert.equal(waitingProd.gate!.open, false);
    assert.match(waitingProd.gate!.reason, /soaking in staging until/);
    assert.equal((await rows()).find((s) => s.stack === "staging")!.commit, head);
    assert.equal(await agent.metric("gitops_stack_gate_waiting", { stack: "prod" }), 1);

    // Shortened by a commit that changes nothing for staging: what staging runs has soaked long enough.
    repo.write("stacks/gitops.yaml", rules("1s"));
    const shortened = repo.commit("shorten prod's soak");
    repo.git("push", "-q", "origin", "main");
    await agent.waitFor("prod promoted", async () => (await prod())?.commit === shortened, DEADLINE);
    const promoted = (await prod())!;
    assert.equal(promoted.promoted!.commit, shortened);
    assert.match(promoted.promoted!.by, /^agent \(/);
    assert.deepEqual(promoted.promoted!.passed, ["health"]);
    assert.ok(hits >= 2, "staging's check ran after its update and again before the promotion");
    assert.equal(await agent.metric("gitops_stack_promotions_total", { stack: "prod" }), 1);
    assert.equal(await agent.metric("gitops_stack_gate_waiting", { stack: "prod" }), 0);
  });
});
