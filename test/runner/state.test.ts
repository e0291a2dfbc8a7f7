/**
 * The state's safety on the real engine: a truncated checkpoint is reported and `gitops restore`
 * brings the stack back from its backup; pending operations an interrupted update left are listed
 * in the result and recorded on the stack.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { killProcessesUnder } from "../fixtures/proc";
import { gitops, startCli } from "../helpers/cli";
import { resources, tags, recordIn } from "../helpers/pulumi";
import { createFixtureRepo, createRepo, fileStackYaml, type TestRepo } from "../helpers/repo";

/** The file backend's checkpoint of a stack of `project`. */
const checkpoint = (repo: TestRepo, project: string, stack: string) =>
  path.join(repo.dir, ".pulumi-gitops", "state", ".pulumi", "stacks", project, `${stack}.json`);

describe("a truncated checkpoint", () => {
  let repo: TestRepo;
  let c1: string;
  const release = (tag: string) => {
    repo.write("stacks/Pulumi.dev.yaml", repo.read("stacks/Pulumi.dev.yaml").replace(/tag: \S+/, `tag: ${tag}`));
    const c = repo.commit(`release ${tag}`);
    repo.git("push", "-q", "origin", "main");
    return c;
  };
  before(async () => {
    repo = createRepo(["dev"]);
    c1 = repo.git("rev-parse", "HEAD");
    for (const step of [() => undefined, () => release("1.5.0")]) {
      step();
      const r = await gitops(repo.dir, "apply");
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(() => repo.remove());

  it("is reported with the stack, what happened and how to restore, and nothing is deployed over it", async () => {
    const file = checkpoint(repo, "pulumi-gitops", "dev");
    const whole = fs.readFileSync(file);
    // What a full disk leaves: the first part of the file.
    fs.writeFileSync(file, whole.subarray(0, Math.floor(whole.length / 2)));
    const truncated = fs.readFileSync(file);
    const backups = fs.readdirSync(path.join(repo.dir, ".pulumi-gitops", "backups", "dev"));
    release("1.6.0");
    const r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: the state of stack dev cannot be read: /m);
    assert.match(r.stderr, /^hint: nothing was changed\. .*`gitops restore --stack dev` imports its newest backup/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.doesNotMatch(r.stderr, /never deployed/);
    assert.deepEqual(fs.readFileSync(file), truncated, "the checkpoint is left for the user to look at");
    assert.deepEqual(fs.readdirSync(path.join(repo.dir, ".pulumi-gitops", "backups", "dev")), backups, "no backup is made of it");
  });

  it("gitops restore imports the newest backup, records its commit, and the next apply brings the stack to main", async () => {
    const r = await gitops(repo.dir, "restore", "--stack", "dev");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`dev: state restored from .*\\.json, deployed from ${c1.slice(0, 7)}`));
    const t = tags(repo.dir, "dev");
    assert.equal(recordIn(t).commit, c1, "the commit the restored state was deployed from");
    assert.equal(recordIn(t).command, "restore");
    const apply = await gitops(repo.dir, "apply");
    assert.equal(apply.code, 0, apply.stderr);
    assert.match(apply.stderr, new RegExp(`dev: apply, changed since ${c1.slice(0, 7)}`));
    const urns = resources(repo.dir, "dev");
    assert.equal(new Set(urns).size, urns.length, "no resource twice");
    const check = await gitops(repo.dir, "preview", "--stack", "dev", "--detailed-exitcode");
    assert.equal(check.code, 0, `state matches the program: ${check.stderr}`);
  });

  it("restore --file refuses what is not a state export", async () => {
    const bogus = path.join(repo.dir, "..", "bogus.json");
    fs.writeFileSync(bogus, '{"version": 3');
    const r = await gitops(repo.dir, "restore", "--stack", "dev", "--file", bogus);
    assert.equal(r.code, 64, r.stderr);
    assert.match(r.stderr, /^error: cannot read the backup .*bogus\.json/m);
  });
});

/** A program whose one resource's create waits while target/hold exists: an update that stays in flight. */
const HELD_PROGRAM = `import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs) {
    const fs = require("node:fs") as typeof import("node:fs");
    while (fs.existsSync(inputs.hold)) await new Promise((r) => setTimeout(r, 100));
    return { id: "held", outs: inputs };
  },
};

class Held extends pulumi.dynamic.Resource {
  constructor(name: string, args: { hold: string }) {
    super(provider, name, args, undefined, "held-fixture", "Held");
  }
}

new Held("held", { hold: path.join(process.env.GITOPS_ROOT ?? process.cwd(), "target", "hold") });
`;

describe("pending operations left by an interrupted update", () => {
  let repo: TestRepo;
  before(() => {
    repo = createFixtureRepo(
      {
        "Pulumi.yaml": "name: held-fixture\nruntime:\n  name: nodejs\n  options:\n    typescript: true\nstackConfigDir: stacks\n",
        "index.ts": HELD_PROGRAM,
        "stacks/gitops.yaml": "paths:\n  program: [index.ts, Pulumi.yaml]\n",
      },
      { dev: fileStackYaml("unused") },
    );
  });
  after(() => repo.remove());

  it("are listed in apply's result and recorded on the stack when the next apply drops them", async () => {
    const hold = path.join(repo.dir, "target", "hold");
    fs.mkdirSync(path.dirname(hold), { recursive: true });
    fs.writeFileSync(hold, "");
    const run = startCli(repo.dir, ["apply"]);
    // The engine records the create as pending before the provider runs it, which then waits.
    const file = checkpoint(repo, "held-fixture", "dev");
    const pending = () => {
      try {
        return JSON.parse(fs.readFileSync(file, "utf8")).checkpoint.latest.pending_operations?.length > 0;
      } catch {
        return false;
      }
    };
    while (!pending()) await new Promise((r) => setTimeout(r, 200));
    // A crash: the runner, its engine and the plugins (in process groups of their own) die at once.
    const engine = execFileSync("pgrep", ["-P", String(run.child.pid), "-x", "pulumi"], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map(Number);
    for (const p of engine) process.kill(p, "SIGKILL");
    process.kill(run.child.pid!, "SIGKILL");
    killProcessesUnder(repo.dir);
    assert.equal((await run.done).signal, "SIGKILL");
    fs.rmSync(hold);
    // The crashed engine's lock stays until the user says its holder is gone.
    const unlock = await gitops(repo.dir, "unlock", "--stack", "dev", "--gone", `${engine[0]}@${os.hostname()}`);
    assert.equal(unlock.code, 0, unlock.stderr);

    const r = await gitops(repo.dir, "apply", "--json", "-");
    assert.equal(r.code, 0, r.stderr);
    const dev = JSON.parse(r.stdout).stacks[0];
    assert.equal(dev.pendingCleared.length, 1);
    assert.match(dev.pendingCleared[0], /^creating urn:pulumi:dev::held-fixture::\S*Held::held$/);
    assert.match(
      dev.diagnostics[0].message,
      /pending operation\(s\), now cleared; check that these were not half-made: creating urn:.*::held$/,
    );
    assert.match(
      tags(repo.dir, "dev")["gitops:pending-cleared"],
      /^\d{4}-\d\d-\d\dT[\d:.]+Z: creating urn:pulumi:dev::held-fixture::\S*Held::held$/,
    );
  });
});
