/**
 * Live: the runner with its state in S3 (moto on 127.0.0.1), shared by two checkouts of one origin
 * as two CI runners would share it: `gitops --backend` in one, PULUMI_BACKEND_URL in the other.
 * Every run is the real `gitops` CLI on the real engine; the program is test/fixtures/counter-app,
 * whose update can be held open. Needs provision/pulumi-engine.sh and provision/moto.sh (the fixture runs the latter).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { DEMO_PASSPHRASE } from "../../runner/services/context";
import { ENGINE_DIR, engineEnv } from "../fixtures/engine";
import { killProcessesUnder } from "../fixtures/proc";
import { startS3, type S3 } from "../fixtures/s3";
import { startCli, type CliResult } from "../helpers/cli";
import { enginePid, hold } from "../helpers/hold";
import { recordIn } from "../helpers/pulumi";
import { counterStackYaml, createCounterRepo, git, type CounterConfig, type TestRepo } from "../helpers/repo";

const PULUMI = path.join(ENGINE_DIR, "bin", "pulumi");

describe("gitops with its state in S3, two runners", { timeout: 900_000 }, () => {
  let s3: S3;
  let repo: TestRepo;
  let other: string;
  /** The two runners: a with --backend, b with PULUMI_BACKEND_URL. */
  const runner = (who: "a" | "b", ...args: string[]) => {
    const env = { ...s3.env, PULUMI_CONFIG_PASSPHRASE: DEMO_PASSPHRASE, ...(who === "b" ? { PULUMI_BACKEND_URL: s3.backendUrl } : {}) };
    return startCli(who === "a" ? repo.dir : other, who === "a" ? [...args, "--backend", s3.backendUrl] : args, env);
  };
  const run = async (who: "a" | "b", ...args: string[]): Promise<CliResult> => runner(who, ...args).done;
  const cli = (...args: string[]) =>
    execFileSync(PULUMI, [...args, "--non-interactive", "--stack", "dev"], {
      cwd: repo.dir,
      env: { HOME: process.env.HOME, ...engineEnv(s3.backendUrl, { ...s3.env, PULUMI_CONFIG_PASSPHRASE: DEMO_PASSPHRASE }) },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  const locks = () => s3.keys(".pulumi/locks/");
  const outputs = () => JSON.parse(cli("stack", "output", "--json"));
  const history = (): { result: string; startTime: string; endTime: string }[] => JSON.parse(cli("stack", "history", "--json"));
  const items = () =>
    (JSON.parse(cli("stack", "export")).deployment.resources ?? []).filter((r: { type: string }) => r.type === "counter:index:Item").length;
  /** Commits the dev stack file in a, pushes it, and brings b to it. */
  const land = (c: CounterConfig) => {
    repo.write("stacks/Pulumi.dev.yaml", counterStackYaml(c));
    const commit = repo.commit(`dev: ${c.version}`);
    repo.git("push", "-q", "origin", "main");
    git(other, "pull", "-q", "--ff-only", "origin", "main");
    return commit;
  };

  before(async () => {
    s3 = await startS3();
    repo = createCounterRepo({ dev: { count: 1, version: "one" } });
    other = path.join(repo.dir, "..", "other");
    repo.git("clone", "-q", repo.origin, other);
    fs.symlinkSync(fs.realpathSync(path.join(repo.dir, "node_modules")), path.join(other, "node_modules"));
    fs.appendFileSync(path.join(other, ".git", "info", "exclude"), "/node_modules\n");
  });

  after(async () => {
    if (repo) killProcessesUnder(path.join(repo.dir, ".."));
    await s3?.stop();
    repo?.remove();
  });

  it("the state, the record and the lock live in the bucket", async () => {
    const r = await run("a", "apply");
    assert.equal(r.code, 0, r.stderr);
    const keys = await s3.keys(".pulumi/");
    assert.ok(
      keys.some((k) => k.startsWith(".pulumi/stacks/counter-app/dev.json")),
      keys.join("\n"),
    );
    assert.equal(recordIn(JSON.parse(cli("stack", "tag", "ls", "--json"))).commit, repo.git("rev-parse", "HEAD"));
    assert.equal(fs.existsSync(path.join(repo.dir, ".pulumi-gitops", "state")), false, "nothing in the embedded backend");
    const s = await run("b", "status", "--json");
    assert.equal(s.code, 0, s.stderr);
    assert.equal(JSON.parse(s.stdout)[0].inSync, true, "the other runner reads the same record");
    assert.deepEqual(await locks(), []);
  });

  it("while one runner deploys, the other is refused by its lock, and unlock cannot break it", async () => {
    const h = hold();
    land({ count: 3, version: "two", holdFile: h.file });
    const a = runner("a", "apply");
    await h.reached(a.child);
    const engine = enginePid(a.child.pid!);
    const lock = await locks();
    assert.equal(lock.length, 1);

    const b = await run("b", "apply");
    assert.equal(b.code, 3, b.stderr);
    assert.match(b.stderr, new RegExp(`^error: stack dev is locked: created by \\S+@${os.hostname()} \\(pid ${engine}\\)`, "m"));
    for (const args of [[], ["--gone", `${engine}@${os.hostname()}`]]) {
      const u = await run("b", "unlock", "--stack", "dev", ...args);
      assert.equal(u.code, 3, u.stderr);
    }
    assert.deepEqual(await locks(), lock, "the live lock is intact");

    h.release();
    const done = await a.done;
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual({ items: items(), outputs: outputs() }, { items: 3, outputs: { version: "two", count: 3 } });
    assert.deepEqual(await locks(), []);
  });

  it("racing runners waiting on each other's lock: one update at a time, nothing lost", async () => {
    const before = history().length;
    land({ count: 5, version: "three" });
    const [a, b] = await Promise.all([run("a", "apply", "--lock-timeout", "3600"), run("b", "apply", "--lock-timeout", "3600")]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const updates = history().slice(0, history().length - before);
    assert.ok(updates.length >= 1 && updates.every((u) => u.result === "succeeded"), JSON.stringify(updates));
    const spans = updates.map((u) => [Date.parse(u.startTime), Date.parse(u.endTime)]).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], `updates overlapped: ${JSON.stringify(updates)}`);
    assert.deepEqual({ items: items(), outputs: outputs() }, { items: 5, outputs: { version: "three", count: 5 } });
    assert.deepEqual(await locks(), []);
  });

  it("a killed runner's lock: both runners refuse and leave it; unlock clears it once told the holder is gone", async () => {
    const h = hold();
    land({ count: 2, version: "four", holdFile: h.file });
    const before = history().length;
    const a = runner("a", "apply");
    await h.reached(a.child);
    const engine = enginePid(a.child.pid!);
    process.kill(engine, "SIGKILL");
    a.child.kill("SIGKILL");
    killProcessesUnder(repo.dir);
    await a.done;
    const stale = await locks();
    assert.equal(stale.length, 1, "the killed update could not remove its lock");

    const refused = await Promise.all([run("a", "apply", "--lock-timeout", "3"), run("b", "apply", "--lock-timeout", "3")]);
    for (const r of refused) {
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, new RegExp(`stack dev is locked: created by \\S+ \\(pid ${engine}\\)`));
    }
    assert.deepEqual(await locks(), stale, "no runner broke the lock");
    assert.equal(history().length, before, "no update ran");

    const ask = await run("b", "unlock", "--stack", "dev");
    assert.equal(ask.code, 3, ask.stderr);
    assert.match(ask.stderr, new RegExp(`--gone ${engine}@${os.hostname()}`));
    const cleared = await run("b", "unlock", "--stack", "dev", "--gone", `${engine}@${os.hostname()}`);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.deepEqual(await locks(), []);

    h.release();
    const [ra, rb] = await Promise.all([run("a", "apply", "--lock-timeout", "3600"), run("b", "apply", "--lock-timeout", "3600")]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    assert.deepEqual({ items: items(), outputs: outputs() }, { items: 2, outputs: { version: "four", count: 2 } });
    assert.deepEqual(await locks(), []);
  });
});
