/**
 * Live: progressive promotion of this project's own program through three cluster-mode stacks,
 * dev, staging and prod (namespaces web-dev, web-staging, web-prod), on a real API server, with the
 * real engine, real git and `gitops apply` and `gitops agent` as a user runs them. Pods never run
 * (no kubelet), so a small server stands in for the application's health endpoint: staging's check
 * asks it at a URL built from staging's `namespace` output, and it answers from the Deployment the
 * API server holds in that namespace. Every outcome is asserted in the API server: which image each
 * namespace's Deployment has, and how often prod's spec changed (its `metadata.generation`).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { LOCAL_DIR } from "../../runner/services/context";
import { startCluster, type Cluster } from "../fixtures/cluster";
import { startGitDaemon, type GitDaemon } from "../fixtures/gitDaemon";
import { startAgent } from "../helpers/agent";
import { startCli } from "../helpers/cli";
import { tags } from "../helpers/pulumi";
import { clusterStackYaml, createClusterRepo, type TestRepo } from "../helpers/repo";
import { applyResults, setRules, stagesRules } from "../helpers/stages";

const STACKS = ["dev", "staging", "prod"];
/** The image every stack starts with: the one stacks/Pulumi.dev.yaml declares. */
const FIRST_TAG = /tag: (\S+)/.exec(clusterStackYaml("dev"))![1];
const image = (tag: string) => `ghcr.io/example/web:${tag}`;
/** The tags the test marks broken: the stand-in health endpoint fails for a Deployment running one. */
const BROKEN = /-broken$/;
/** A deadline for one sync of the agent on a loaded machine: not a timing assertion. */
const DEADLINE = 300_000;

const deploymentIn = (cluster: Cluster, ns: string) => cluster.get(`/apis/apps/v1/namespaces/${ns}/deployments/web`);

/**
 * The application's health endpoint as the API server decides it: `/health/<namespace>` answers
 * 503 without a Deployment `web` there, 500 when it runs a broken tag, 200 otherwise. `seen` lists,
 * per namespace, the image it found at each request.
 */
async function startLiveHealth(cluster: Cluster): Promise<{ port: number; seen: Map<string, string[]>; close(): Promise<void> }> {
  const seen = new Map<string, string[]>();
  const server = http.createServer((req, res) => {
    const ns = req.url!.replace(/^\/health\//, "");
    deploymentIn(cluster, ns).then(
      (d) => {
        const img: string | undefined = d?.spec.template.spec.containers[0].image;
        seen.set(ns, [...(seen.get(ns) ?? []), img ?? "(none)"]);
        res.writeHead(img === undefined ? 503 : BROKEN.test(img) ? 500 : 200).end();
      },
      (err: Error) => res.writeHead(502).end(err.message),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe("progressive promotion on a live cluster", { timeout: 900_000 }, () => {
  let cluster: Cluster;
  let health: Awaited<ReturnType<typeof startLiveHealth>> | undefined;
  let repo: TestRepo;
  let daemon: GitDaemon | undefined;
  let workDir: string | undefined;
  let base: string;
  // A cluster stack refuses the demo passphrase: this one is the user's own.
  const env = () => ({ KUBECONFIG: cluster.kubeconfigPath, PULUMI_CONFIG_PASSPHRASE: "live promotion passphrase" });
  const gitops = (...args: string[]) => startCli(repo.dir, args, env()).done;
  const apply = async () => {
    const r = await gitops("apply", "--json", "-");
    return { r, results: applyResults(r) };
  };
  /** The image of the Deployment `web` in the API server, in `stack`'s namespace (undefined: none there). */
  const imageOf = async (stack: string): Promise<string | undefined> =>
    (await deploymentIn(cluster, `web-${stack}`))?.spec.template.spec.containers[0].image;
  /** How many times prod's Deployment spec has changed in the API server. */
  const prodGeneration = async (): Promise<number> => (await deploymentIn(cluster, "web-prod")).metadata.generation;
  /** The rules: staging's check asks the stand-in health endpoint for staging's namespace (its output). */
  const rules = (onFailure: "keep" | "rollback", soak: string) =>
    stagesRules(base, `http://127.0.0.1:${health!.port}/health/\${outputs.namespace}`, onFailure, soak);
  /** Sets the image tag of every stack and pushes the commit. */
  const release = (tag: string): string => {
    for (const s of STACKS) repo.write(`stacks/Pulumi.${s}.yaml`, repo.read(`stacks/Pulumi.${s}.yaml`).replace(/tag: \S+/, `tag: ${tag}`));
    const c = repo.commit(`release ${tag}`);
    repo.git("push", "-q", "origin", "main");
    return c;
  };

  let first: string;
  let v4: string;
  before(async () => {
    cluster = await startCluster();
    health = await startLiveHealth(cluster);
    repo = createClusterRepo(STACKS);
    base = repo.read("stacks/gitops.yaml");
    first = setRules(repo, rules("keep", "1h"), "prod is promoted from staging after a soak");
  });
  after(async () => {
    await daemon?.stop();
    await health?.close();
    await cluster?.stop();
    repo?.remove();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("deploys dev and staging, holds prod at its gate while the commit soaks, then promotes it", async () => {
    const held = await apply();
    assert.equal(held.r.code, 0, held.r.stderr);
    assert.equal(await imageOf("dev"), image(FIRST_TAG));
    assert.equal(await imageOf("staging"), image(FIRST_TAG));
    assert.equal(await deploymentIn(cluster, "web-prod"), undefined, "nothing reached prod's namespace");
    assert.deepEqual(health!.seen.get("web-staging"), [image(FIRST_TAG)], "staging's check asked once, after its update");
    const prod = held.results.get("prod")!;
    assert.equal(prod.status, "waiting");
    assert.equal(prod.gate?.candidate, first);
    assert.match(prod.reason!, /waiting for [0-9a-f]{7} at its gate: soaking in staging until \d{4}-/);
    assert.match(held.r.stderr, /prod: waiting at its gate: soaking in staging until/);

    const shortened = setRules(repo, rules("keep", "1s"), "shorten prod's soak");
    const promoted = await apply();
    assert.equal(promoted.r.code, 0, promoted.r.stderr);
    assert.equal(promoted.results.get("prod")!.status, "succeeded", promoted.r.stderr);
    assert.equal(health!.seen.get("web-staging")!.length, 2, "staging's check asked again before the promotion");
    assert.equal(await imageOf("prod"), image(FIRST_TAG));
    assert.equal(JSON.parse(tags(repo.dir, "prod")["gitops:promoted"]).commit, shortened);
  });

  it("keeps a commit whose check fails in staging out of prod, and says why", async () => {
    const generation = await prodGeneration();
    release("1.5.0-broken");
    const failed = await apply();
    assert.equal(failed.r.code, 1, failed.r.stderr);
    assert.equal(await imageOf("staging"), image("1.5.0-broken"), "staging runs it, as onFailure says keep");
    assert.match(failed.results.get("staging")!.error!, /check health failed: http:\/\/127\.0\.0\.1:\d+\/health\/web-staging answered 500/);
    assert.match(failed.r.stderr, /error: staging: deployed [0-9a-f]{7}, but its check health failed/);

    const again = await apply();
    assert.equal(again.r.code, 0, again.r.stderr);
    const prod = again.results.get("prod")!;
    assert.equal(prod.status, "waiting");
    assert.match(prod.reason!, /staging's check failed on [0-9a-f]{7}: health: .*answered 500/);
    assert.equal(await imageOf("prod"), image(FIRST_TAG));
    assert.equal(await prodGeneration(), generation, "prod's Deployment was not changed");
  });

  it("lets a newer passing commit supersede an older one still soaking", async () => {
    const generation = await prodGeneration();
    setRules(repo, rules("keep", "1h"), "soak for an hour in staging");
    const v3 = release("1.6.0");
    const soaking = await apply();
    assert.equal(soaking.r.code, 0, soaking.r.stderr);
    assert.equal(soaking.results.get("prod")!.gate?.candidate, v3);
    assert.equal(await imageOf("staging"), image("1.6.0"));
    v4 = release("1.7.0");
    const superseded = await apply();
    assert.equal(superseded.r.code, 0, superseded.r.stderr);
    assert.equal(superseded.results.get("prod")!.status, "waiting");
    assert.equal(superseded.results.get("prod")!.gate?.candidate, v4);
    assert.equal(await imageOf("staging"), image("1.7.0"));
    assert.equal(await imageOf("prod"), image(FIRST_TAG), "prod keeps its image while 1.6.0 and then 1.7.0 soak");

    setRules(repo, rules("keep", "1s"), "shorten prod's soak");
    const done = await apply();
    assert.equal(done.r.code, 0, done.r.stderr);
    assert.equal(await imageOf("prod"), image("1.7.0"));
    assert.equal(await prodGeneration(), generation + 1, "one change of prod's spec: 1.6.0 never reached it");
  });

  it("rolls staging back to its previous commit and pins it when its check fails (onFailure: rollback)", async () => {
    repo.write("stacks/gitops.yaml", rules("rollback", "1s"));
    repo.commit("roll staging back when its check fails");
    release("1.8.0-broken");
    const r = await apply();
    assert.equal(r.r.code, 1, r.r.stderr);
    assert.equal(health!.seen.get("web-staging")!.at(-1), image("1.8.0-broken"), "the API server held the broken image");
    assert.equal(await imageOf("staging"), image("1.7.0"), "and then the previous one again");
    assert.equal(tags(repo.dir, "staging")["gitops:pin"], v4);
    assert.match(r.results.get("staging")!.error!, /check health failed: .*answered 500.*; rolled back to [0-9a-f]{7} and pinned/);
    assert.equal(await imageOf("prod"), image("1.7.0"), "prod keeps what it ran");
  });

  it("the agent follows the same gates: prod waits while the commit soaks, then is promoted", async (t) => {
    const unpinned = await gitops("unpin", "--stack", "staging");
    assert.equal(unpinned.code, 0, unpinned.stderr);
    setRules(repo, rules("keep", "1h"), "keep what fails, soak for an hour");
    const v5 = release("1.9.0");
    daemon = await startGitDaemon(path.dirname(repo.origin));
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-agent-"));
    // The agent's state is the one apply used above: it takes over the same stacks.
    const agent = await startAgent(
      t,
      workDir,
      ["--repo", daemon.url(path.basename(repo.origin)), "--interval", "1s", "--drift-interval", "0"],
      { ...env(), PULUMI_BACKEND_URL: `file://${path.join(repo.dir, LOCAL_DIR, "state")}` },
    );
    const prod = async () =>
      (await agent.status()).stacks.find((s) => s.stack === "prod") as { commit?: string; gate?: { candidate?: string } };
    await agent.waitFor("staging deployed and prod waiting", async () => (await prod())?.gate?.candidate === v5, DEADLINE);
    assert.equal(await imageOf("dev"), image("1.9.0"));
    assert.equal(await imageOf("staging"), image("1.9.0"));
    assert.equal(await imageOf("prod"), image("1.7.0"), "prod waits at its gate");

    const shortened = setRules(repo, rules("keep", "1s"), "shorten prod's soak");
    await agent.waitFor("prod promoted", async () => (await prod())?.commit === shortened, DEADLINE);
    assert.equal(await imageOf("prod"), image("1.9.0"));
    assert.match(JSON.parse(tags(repo.dir, "prod")["gitops:promoted"]).by, /^agent \(/);
  });
});
