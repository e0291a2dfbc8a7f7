/**
 * Live: Pulumi's DIY backend with the state in S3 (moto on 127.0.0.1), shared by two checkouts of
 * test/fixtures/counter-app as two CI runners would share it. Every `pulumi up` is a separate real
 * engine process. Needs scripts/engine.sh and scripts/moto.sh (the fixture runs the latter).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import YAML from "yaml";
import { copyProgram, ENGINE_DIR, engineEnv } from "../fixtures/engine";
import { atExit, killProcessesUnder, run, type Run } from "../fixtures/proc";
import { startS3, type S3 } from "../fixtures/s3";

const STACK = "live";
const PULUMI = path.join(ENGINE_DIR, "bin", "pulumi");
const LOCKED = /the stack is currently locked by 1 lock\(s\)/;

describe("Pulumi state in S3 shared by two checkouts", { timeout: 600_000 }, () => {
  let s3: S3;
  let env: NodeJS.ProcessEnv;
  let scratch: string;
  const checkouts: { dir: string; remove(): void }[] = [];
  const runs: Run[] = [];
  let salt: string;

  const cli = (dir: string, ...args: string[]) =>
    execFileSync(PULUMI, [...args, "--non-interactive"], { cwd: dir, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

  /** Writes the checkout's stack file, as a commit to that checkout would. */
  const configure = (dir: string, config: { count: number; version: string; holdFile?: string }) => {
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) if (v !== undefined) values[`counter-app:${k}`] = String(v);
    fs.writeFileSync(path.join(dir, `Pulumi.${STACK}.yaml`), YAML.stringify({ encryptionsalt: salt, config: values }));
  };

  const up = (dir: string): Run => {
    const r = run(PULUMI, ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", STACK], { cwd: dir, env });
    runs.push(r);
    return r;
  };

  /** The stack's state as the backend holds it. */
  const state = () => {
    const d = JSON.parse(cli(checkouts[0].dir, "stack", "export", "--stack", STACK)).deployment;
    const resources: { type: string; outputs?: Record<string, unknown> }[] = d.resources ?? [];
    const stack = resources.find((r) => r.type === "pulumi:pulumi:Stack");
    return { items: resources.filter((r) => r.type === "counter:index:Item").length, outputs: stack?.outputs ?? {} };
  };
  const history = (): { result: string }[] => JSON.parse(cli(checkouts[0].dir, "stack", "history", "--json", "--stack", STACK));
  const locks = () => s3.keys(".pulumi/locks/");

  /** Waits until the stack lock is in the bucket, failing with `r`'s output if `r` ends first. */
  const lockTakenBy = async (r: Run) => {
    let ended = false;
    void r.done.then(() => (ended = true));
    const deadline = Date.now() + 120_000;
    while ((await locks()).length === 0) {
      if (ended) throw new Error(`the update ended before taking the lock:\n${(await r.done).output}`);
      if (Date.now() > deadline) throw new Error("no lock after 120 s");
      await new Promise((res) => setTimeout(res, 100));
    }
  };

  before(async () => {
    s3 = await startS3();
    env = { ...process.env, ...engineEnv(s3.backendUrl, s3.env) };
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-s3-test-"));
    atExit(() => fs.rmSync(scratch, { recursive: true, force: true }));
    checkouts.push(copyProgram("counter-app"), copyProgram("counter-app"));
    cli(checkouts[0].dir, "stack", "init", STACK);
    salt = YAML.parse(fs.readFileSync(path.join(checkouts[0].dir, `Pulumi.${STACK}.yaml`), "utf8")).encryptionsalt;
    assert.ok(salt, "stack init wrote the passphrase salt");
  });

  after(async () => {
    for (const r of runs) r.killGroup();
    await Promise.allSettled(runs.map((r) => r.done));
    for (const c of checkouts) killProcessesUnder(c.dir);
    await s3?.stop();
    for (const c of checkouts) c.remove();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("the state and its lock really live in the bucket", async () => {
    const keys = await s3.keys(".pulumi/");
    assert.ok(keys.some((k) => k.startsWith(`.pulumi/stacks/counter-app/${STACK}.json`)), keys.join("\n"));
    assert.deepEqual(await locks(), []);
  });

  it("while one update runs, a concurrent up from the other checkout is refused by the lock and nothing is lost", async () => {
    const [a, b] = checkouts;
    const hold = path.join(scratch, "release-a");
    configure(a.dir, { count: 3, version: "a", holdFile: hold });
    configure(b.dir, { count: 5, version: "b" });

    const ra = up(a.dir);
    await lockTakenBy(ra);
    const rb = await up(b.dir).done;
    assert.notEqual(rb.code, 0, "b must not apply while a holds the lock");
    assert.match(rb.output, LOCKED);

    fs.writeFileSync(hold, "");
    const resA = await ra.done;
    assert.equal(resA.code, 0, resA.output);
    assert.deepEqual(state(), { items: 3, outputs: { version: "a", count: 3 } });

    // b retries once a is done, and its change lands on top of a's.
    const retry = await up(b.dir).done;
    assert.equal(retry.code, 0, retry.output);
    assert.deepEqual(state(), { items: 5, outputs: { version: "b", count: 5 } });
    assert.deepEqual(await locks(), []);
    assert.deepEqual(
      history().map((h) => h.result),
      ["succeeded", "succeeded"],
    );
  });

  it("racing ups from both checkouts: each applies or is refused, and the state is the last applied one's", async (t) => {
    const [a, b] = checkouts;
    for (let round = 1; round <= 3; round++) {
      const before = history().length;
      const prev = state();
      configure(a.dir, { count: 1 + round, version: `a${round}` });
      configure(b.dir, { count: 10 + round, version: `b${round}` });
      const finished: { who: string; code: number | null; output: string }[] = [];
      await Promise.all(
        [
          ["a", up(a.dir)],
          ["b", up(b.dir)],
        ].map(async ([who, r]) => {
          const res = await (r as Run).done;
          finished.push({ who: who as string, code: res.code, output: res.output });
        }),
      );
      for (const f of finished) {
        if (f.code !== 0) assert.match(f.output, LOCKED, `round ${round}: ${f.who} failed for another reason than the lock`);
      }
      const applied = finished.filter((f) => f.code === 0);
      t.diagnostic(`round ${round}: ${finished.map((f) => `${f.who} ${f.code === 0 ? "applied" : "refused"}`).join(", then ")}`);
      const s = state();
      if (applied.length === 0) {
        // Both saw each other's lock between write and re-check: neither applied, nothing changed.
        assert.deepEqual(s, prev, `round ${round}`);
      } else {
        const last = applied[applied.length - 1].who;
        const want = last === "a" ? { count: 1 + round, version: `a${round}` } : { count: 10 + round, version: `b${round}` };
        assert.deepEqual(s, { items: want.count, outputs: want }, `round ${round}: ${finished.map((f) => `${f.who}=${f.code}`).join(" ")}`);
      }
      assert.equal(history().length, before + applied.length, `round ${round}: one history entry per applied update`);
      assert.ok(history().every((h) => h.result === "succeeded"));
      assert.deepEqual(await locks(), [], `round ${round}: no lock left behind`);
    }
  });

  it("a lock left by an up killed with SIGKILL is reported, and pulumi cancel clears it", async () => {
    const [a, b] = checkouts;
    const prev = state();
    configure(a.dir, { count: 4, version: "killed", holdFile: path.join(scratch, "never") });
    const ra = up(a.dir);
    await lockTakenBy(ra);
    // As a crashed runner: the CLI and its process group at once, then the plugins it had
    // started in their own groups (they would die with the machine).
    ra.killGroup();
    killProcessesUnder(a.dir);
    const killed = await ra.done;
    assert.equal(killed.signal, "SIGKILL");

    const stale = await locks();
    assert.equal(stale.length, 1, "the killed update could not remove its lock");

    configure(b.dir, { count: 1, version: "after" });
    const refused = await up(b.dir).done;
    assert.notEqual(refused.code, 0);
    assert.match(refused.output, LOCKED);
    assert.match(refused.output, new RegExp(`\\(pid ${ra.child.pid}\\)`), "the error points at the dead process");
    assert.deepEqual(state(), prev, "the killed update changed nothing");

    cli(b.dir, "cancel", "--yes", "--stack", STACK);
    assert.deepEqual(await locks(), []);

    const res = await up(b.dir).done;
    assert.equal(res.code, 0, res.output);
    assert.deepEqual(state(), { items: 1, outputs: { version: "after", count: 1 } });
    assert.deepEqual(await locks(), []);
  });
});
