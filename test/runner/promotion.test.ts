/**
 * Progressive promotion (stacks/gitops.yaml `stages`) with the real engine on real git: a commit
 * reaches dev and staging, waits at prod's gate while it soaks, and goes to prod once the soak is
 * over and staging's check passes again; a failing check keeps it out; a newer commit supersedes an
 * older one still soaking; `onFailure: rollback` rolls a stack back. The HTTP check asks a real
 * server on 127.0.0.1, at a URL built from the stack's output.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { gitops, type CliResult } from "../helpers/cli";
import { pulumi, tags, record, recordIn } from "../helpers/pulumi";
import { counterStackYaml, createCounterRepo, type TestRepo } from "../helpers/repo";
import { applyResults, setRules, stagesRules, type StackRun } from "../helpers/stages";

const STACKS = ["dev", "staging", "prod"];

/** The health endpoint of each version: `/health/<version>` answers 200, but `bad`'s answers 500. */
async function startHealthServer(): Promise<{ port: number; hits: Map<string, number>; close(): Promise<void> }> {
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1);
    res.writeHead(req.url === "/health/bad" ? 500 : 200).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** The rules with staging's check, at the health server's URL for the version staging runs (its output). */
function rulesWithStages(repo: TestRepo, port: number, onFailure: "keep" | "rollback", soak = "1h"): string {
  const paths = repo.read("stacks/gitops.yaml").split("stages:")[0];
  return stagesRules(paths, `http://127.0.0.1:${port}/health/\${outputs.version}`, onFailure, soak);
}

/** Sets every stack's version and pushes the commit. */
function release(repo: TestRepo, version: string): string {
  for (const s of STACKS) repo.write(`stacks/Pulumi.${s}.yaml`, counterStackYaml({ count: 1, version }));
  const c = repo.commit(`release ${version}`);
  repo.git("push", "-q", "origin", "main");
  return c;
}

async function apply(repo: TestRepo): Promise<{ r: CliResult; results: Map<string, StackRun> }> {
  const r = await gitops(repo.dir, "apply", "--json", "-");
  return { r, results: applyResults(r) };
}

const prodCommits = (repo: TestRepo) =>
  (JSON.parse(pulumi(repo.dir, "stack", "history", "--json", "--stack", "prod")) as { environment?: Record<string, string> }[]).map(
    (h) => h.environment?.["git.head"],
  );

describe("progressive promotion", () => {
  let repo: TestRepo;
  let health: Awaited<ReturnType<typeof startHealthServer>>;
  let v1: string;
  before(async () => {
    health = await startHealthServer();
    repo = createCounterRepo(Object.fromEntries(STACKS.map((s) => [s, { count: 1, version: "v1" }])));
    repo.write("stacks/gitops.yaml", rulesWithStages(repo, health.port, "keep"));
    v1 = repo.commit("prod is promoted from staging after a soak");
    repo.git("push", "-q", "origin", "main");
  });
  after(async () => {
    await health.close();
    repo.remove();
  });

  it("deploys dev and staging, holds prod at its gate while the commit soaks, then promotes it", async () => {
    const first = await apply(repo);
    assert.equal(first.r.code, 0, first.r.stderr);
    assert.equal(record(repo.dir, "dev").commit, v1);
    assert.equal(record(repo.dir, "staging").commit, v1);
    assert.equal(health.hits.get("/health/v1"), 1, "staging's check ran after its update");
    const prod = first.results.get("prod")!;
    assert.equal(prod.status, "waiting");
    assert.equal(prod.gate?.candidate, v1);
    assert.match(prod.reason!, /waiting for [0-9a-f]{7} at its gate: soaking in staging until \d{4}-/);
    assert.match(first.r.stderr, /prod: waiting at its gate: soaking in staging until/);
    assert.equal(record(repo.dir, "prod").commit, undefined, "prod was not deployed");

    const status = JSON.parse((await gitops(repo.dir, "status", "--json")).stdout) as {
      stack: string;
      gate?: { candidate?: string; soakUntil?: string; open: boolean };
    }[];
    const gate = status.find((s) => s.stack === "prod")!.gate!;
    assert.equal(gate.candidate, v1);
    assert.equal(gate.soakUntil, prod.gate!.soakUntil);

    const shortened = setRules(repo, rulesWithStages(repo, health.port, "keep", "1s"), "shorten prod's soak");
    const second = await apply(repo);
    assert.equal(second.r.code, 0, second.r.stderr);
    assert.equal(second.results.get("staging")!.status, "skipped", "the rules changed nothing for staging");
    assert.equal(second.results.get("prod")!.status, "succeeded");
    assert.equal(health.hits.get("/health/v1"), 2, "staging's check ran again before the promotion");
    const t = tags(repo.dir, "prod");
    assert.equal(recordIn(t).commit, shortened, "what staging runs, as the newest commit that changes nothing for it");
    const promoted = JSON.parse(t["gitops:promoted"]);
    assert.equal(promoted.commit, shortened);
    assert.equal(promoted.from, "staging");
    assert.deepEqual(promoted.passed, ["health"]);
    assert.match(promoted.by, /^apply \(/);
    const hist = JSON.parse((await gitops(repo.dir, "history", "--stack", "prod", "--json")).stdout);
    assert.match(hist[0].message, /promoted from staging/);
  });

  it("keeps a commit whose check fails in staging out of prod, and says why", async () => {
    const prodBefore = record(repo.dir, "prod").commit;
    const bad = release(repo, "bad");
    const failed = await apply(repo);
    assert.equal(failed.r.code, 1, failed.r.stderr);
    assert.equal(record(repo.dir, "staging").commit, bad, `staging runs it, as onFailure says keep:\n${failed.r.stderr}`);
    assert.match(failed.results.get("staging")!.error!, /check health failed: http:\/\/127\.0\.0\.1:\d+\/health\/bad answered 500/);
    assert.match(failed.r.stderr, /error: staging: deployed [0-9a-f]{7}, but its check health failed/);
    assert.equal(record(repo.dir, "prod").commit, prodBefore);

    const again = await apply(repo);
    assert.equal(again.r.code, 0, again.r.stderr);
    const prod = again.results.get("prod")!;
    assert.equal(prod.status, "waiting");
    assert.match(prod.reason!, /staging's check failed on [0-9a-f]{7}: health: .*answered 500/);
    assert.equal(record(repo.dir, "prod").commit, prodBefore);
  });

  it("lets a newer passing commit supersede an older one still soaking", async () => {
    setRules(repo, rulesWithStages(repo, health.port, "keep"), "soak for an hour in staging");
    const v3 = release(repo, "v3");
    const soaking = await apply(repo);
    assert.equal(soaking.r.code, 0, soaking.r.stderr);
    assert.equal(soaking.results.get("prod")!.gate?.candidate, v3);
    const v4 = release(repo, "v4");
    const superseded = await apply(repo);
    assert.equal(superseded.r.code, 0, superseded.r.stderr);
    const prod = superseded.results.get("prod")!;
    assert.equal(prod.status, "waiting");
    assert.equal(prod.gate?.candidate, v4);
    const shortened = setRules(repo, rulesWithStages(repo, health.port, "keep", "1s"), "shorten prod's soak");
    const done = await apply(repo);
    assert.equal(done.r.code, 0, done.r.stderr);
    assert.equal(record(repo.dir, "prod").commit, shortened, "v4, and the rules commit after it");
    assert.equal(record(repo.dir, "staging").commit, v4);
    assert.ok(!prodCommits(repo).includes(v3), "v3 never reached prod");
  });

  it("rolls staging back to its previous commit and pins it when its check fails (onFailure: rollback)", async () => {
    const v4 = record(repo.dir, "staging").commit;
    const prodBefore = record(repo.dir, "prod").commit;
    repo.write("stacks/gitops.yaml", rulesWithStages(repo, health.port, "rollback", "1s"));
    repo.commit("roll staging back when its check fails");
    const bad = release(repo, "bad");
    const r = await apply(repo);
    assert.equal(r.r.code, 1, r.r.stderr);
    assert.match(r.results.get("staging")!.error!, /check health failed: .*; rolled back to [0-9a-f]{7} and pinned/);
    const t = tags(repo.dir, "staging");
    assert.equal(recordIn(t).commit, v4);
    assert.equal(t["gitops:pin"], v4);
    assert.equal(recordIn(t).command, "rollback");
    assert.notEqual(recordIn(t).commit, bad);
    assert.equal(record(repo.dir, "prod").commit, prodBefore, "prod keeps what it ran");
  });

  it("promotes by hand only through the gate, unless overridden with a reason that is recorded", async () => {
    const bad = repo.git("rev-parse", "HEAD");
    const before = record(repo.dir, "prod").commit;
    const refused = await gitops(repo.dir, "promote", "--stack", "prod", "--to", bad);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /error: prod's gate is closed for [0-9a-f]{7}: /);
    assert.equal(record(repo.dir, "prod").commit, before);

    const forced = await gitops(repo.dir, "promote", "--stack", "prod", "--to", bad, "--override", "hotfix INC-42");
    assert.equal(forced.code, 0, forced.stderr);
    const t = tags(repo.dir, "prod");
    assert.equal(recordIn(t).commit, bad);
    assert.equal(recordIn(t).command, "promote");
    const promoted = JSON.parse(t["gitops:promoted"]);
    assert.equal(promoted.override, "hotfix INC-42");
    assert.match(promoted.by, /^promote \(/);
  });
});
