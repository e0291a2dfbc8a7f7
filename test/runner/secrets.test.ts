/**
 * Secrets end to end on the real engine: `gitops pulumi` sets them, backups keep them encrypted and
 * private, a changed one is drift without its value shown, the demo passphrase is refused for real
 * targets, a real passphrase (or passphrase file) works on the committed stack files, and no engine
 * run rewrites a tracked file.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { gitops, startCli } from "../helpers/cli";
import { pulumi } from "../helpers/pulumi";
import { createFileRepo, createRepo, PROJECT, renderStackYaml, type TestRepo } from "../helpers/repo";

const OLD = "old-s3cret-4c1f0e";
const NEW = "new-s3cret-9a7d2b";

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

const mode = (p: string) => fs.statSync(p).mode & 0o777;

describe("secrets in stack files, backups and drift", () => {
  let repo: TestRepo;
  const file = () => path.join(repo.dir, "target", "greeting.txt");
  /** Sets the fixture's secret with the engine, as a user does, and lands it on main. */
  const setSecret = async (value: string) => {
    const r = await gitops(repo.dir, "pulumi", "--", "config", "set", "--secret", "--stack", "dev", "drift-fixture:secret", value);
    assert.equal(r.code, 0, r.stderr);
    repo.commit("rotate the greeting's secret");
    repo.git("push", "-q", "origin", "main");
  };
  before(async () => {
    repo = createFileRepo();
    const r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => repo.remove());

  it("gitops pulumi runs the engine with the runner's backend, home and passphrase", async () => {
    const ls = await gitops(repo.dir, "pulumi", "--", "stack", "ls", "--json");
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(
      JSON.parse(ls.stdout).map((s: { name: string }) => s.name),
      ["dev"],
    );
    await setSecret(OLD);
    const text = repo.read("stacks/Pulumi.dev.yaml");
    assert.match(text, /drift-fixture:secret:\n\s+secure: v1:/);
    assert.doesNotMatch(text, new RegExp(OLD));
    const missing = await gitops(repo.dir, "pulumi", "--", "stack", "select", "nope");
    assert.notEqual(missing.code, 0, "the engine's exit code is passed on");
  });

  it("keeps secrets encrypted in every backup, in directories only the user can read", async () => {
    let r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(file(), "utf8"), OLD);
    await setSecret(NEW);
    r = await gitops(repo.dir, "apply");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(file(), "utf8"), NEW);
    const backups = path.join(repo.dir, ".pulumi-gitops", "backups");
    const saved = filesUnder(backups);
    assert.equal(saved.length, 3, "one backup before each of the three updates");
    for (const f of saved) {
      const text = fs.readFileSync(f, "utf8");
      assert.doesNotMatch(text, new RegExp(`${OLD}|${NEW}`), `${f} holds a secret in clear text`);
      assert.ok(JSON.parse(text).deployment, `${f} is a state export`);
      assert.equal(mode(f), 0o600, f);
    }
    assert.match(fs.readFileSync(saved.sort().at(-1)!, "utf8"), /"ciphertext"/, "the secret is in the backup, encrypted");
    for (const d of [backups, path.join(backups, "dev")]) assert.equal(mode(d), 0o700, d);
  });

  it("reports a changed secret as drift, without its value", async () => {
    fs.writeFileSync(file(), "tampered-by-hand");
    const r = await gitops(repo.dir, "drift", "--json", "-");
    assert.equal(r.code, 2, r.stderr);
    const dev = JSON.parse(r.stdout).stacks[0];
    assert.deepEqual(dev.changes[0].diffs, [
      { path: "content", kind: "update", before: "[secret]", after: "[secret, changed]", secret: true },
    ]);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(`${NEW}|tampered-by-hand`));
    assert.equal(fs.readFileSync(file(), "utf8"), "tampered-by-hand", "detection changes nothing");
  });

  it("preview says on the pull request when a stack file holds secrets without its salt", async () => {
    const report = path.join(repo.dir, "..", "preview.md");
    const lacks = /stacks\/Pulumi\.dev\.yaml holds secure: values but no encryptionsalt: line.*gitops init-stack dev/;
    let r = await gitops(repo.dir, "preview", "--stack", "dev", "--report", report);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(fs.readFileSync(report, "utf8"), lacks);
    repo.git("checkout", "-q", "-b", "no-salt");
    repo.write("stacks/Pulumi.dev.yaml", repo.read("stacks/Pulumi.dev.yaml").replace(/^encryptionsalt: .*\n/m, ""));
    repo.commit("a stack file without its salt");
    r = await gitops(repo.dir, "preview", "--report", report);
    assert.equal(r.code, 0, r.stderr);
    assert.match(fs.readFileSync(report, "utf8"), lacks);
    repo.git("checkout", "-q", "main");
  });
});

describe("passphrases for stacks that target real infrastructure", () => {
  let repo: TestRepo;
  before(() => {
    repo = createRepo(["dev"]);
    // The project's own staging file, as committed: a real cluster and AWS account.
    repo.write("stacks/Pulumi.staging.yaml", fs.readFileSync(path.join(PROJECT, "stacks", "Pulumi.staging.yaml"), "utf8"));
    repo.commit("add staging");
    repo.git("push", "-q", "origin", "main");
  });
  after(() => repo.remove());

  const stacks = () => JSON.parse(pulumi(repo.dir, "stack", "ls", "--json")).map((s: { name: string }) => s.name);

  it("refuses the demo passphrase, before anything is created", async () => {
    const r = await gitops(repo.dir, "preview", "--stack", "staging");
    assert.equal(r.code, 64, r.stderr);
    assert.match(
      r.stderr,
      /^error: stack staging targets a Kubernetes cluster and an AWS account \(stacks\/Pulumi\.staging\.yaml\), but its secrets would be encrypted with the demo passphrase/m,
    );
    assert.match(r.stderr, /^hint: set PULUMI_CONFIG_PASSPHRASE, or PULUMI_CONFIG_PASSPHRASE_FILE,/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.deepEqual(stacks(), []);
    const dev = await gitops(repo.dir, "preview", "--stack", "dev");
    assert.equal(dev.code, 0, `a render-mode stack may use it: ${dev.stderr}`);
  });

  it("previews the committed file with a passphrase from PULUMI_CONFIG_PASSPHRASE_FILE, up to the missing plugin", async () => {
    const secret = path.join(repo.dir, "..", "passphrase.txt");
    fs.writeFileSync(secret, "correct horse battery staple\n", { mode: 0o600 });
    const env = { PULUMI_CONFIG_PASSPHRASE_FILE: secret };
    const r = await startCli(repo.dir, ["preview", "--stack", "staging"], env).done;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /stack staging needs the 'aws' resource plugin/);
    assert.doesNotMatch(r.stderr, /passphrase/i);
    assert.equal(repo.git("status", "--porcelain"), "", "the stack file is left as committed");
    // A secret set with the file's passphrase: that one decrypts it, another one does not.
    const set = await startCli(
      repo.dir,
      ["pulumi", "--", "config", "set", "--secret", "--path", "--stack", "staging", "pulumi-gitops:app.env.API_TOKEN", "tok-123"],
      env,
    ).done;
    assert.equal(set.code, 0, set.stderr);
    const wrong = await startCli(repo.dir, ["preview", "--stack", "staging"], { PULUMI_CONFIG_PASSPHRASE: "another one" }).done;
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /cannot decrypt the secrets of stack staging/);
    const again = await startCli(repo.dir, ["preview", "--stack", "staging"], env).done;
    assert.match(again.stderr, /needs the 'aws' resource plugin/);
  });
});

describe("engine runs never modify tracked files", () => {
  let repo: TestRepo;
  before(() => (repo = createRepo(["dev"])));
  after(() => repo.remove());

  it("a stack added by a commit alone is applied, the tree stays clean, and a second apply does nothing", async () => {
    repo.write("stacks/Pulumi.qa.yaml", renderStackYaml("qa"));
    repo.commit("add the qa stack");
    repo.git("push", "-q", "origin", "main");
    const first = await gitops(repo.dir, "apply");
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /qa: apply, never deployed/);
    assert.equal(repo.git("status", "--porcelain"), "");
    const preview = await gitops(repo.dir, "preview", "--stack", "qa");
    assert.equal(preview.code, 0, preview.stderr);
    assert.equal(repo.git("status", "--porcelain"), "");
    const second = await gitops(repo.dir, "apply");
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /qa: skip, in sync/);
    assert.match(second.stderr, /dev: skip, in sync/);
  });

  it("init-stack writes the stack's salt into its file, which then takes secrets", async () => {
    const r = await gitops(repo.dir, "init-stack", "qa");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /wrote the stack's encryptionsalt: line into stacks\/Pulumi\.qa\.yaml: commit it/);
    const text = repo.read("stacks/Pulumi.qa.yaml");
    assert.equal(
      text,
      `${/^encryptionsalt: v1:\S+$/m.exec(text)![0]}\n${renderStackYaml("qa")}`,
      "the salt line on top, the rest unchanged",
    );
    const again = await gitops(repo.dir, "init-stack", "qa");
    assert.match(again.stderr, /already holds the stack's encryptionsalt: line/);
    const set = await gitops(
      repo.dir,
      "pulumi",
      "--",
      "config",
      "set",
      "--secret",
      "--path",
      "--stack",
      "qa",
      "pulumi-gitops:app.env.API_TOKEN",
      "tok-123",
    );
    assert.equal(set.code, 0, set.stderr);
    assert.equal(
      /^encryptionsalt: .*$/m.exec(repo.read("stacks/Pulumi.qa.yaml"))![0],
      /^encryptionsalt: .*$/m.exec(text)![0],
      "the engine kept the salt",
    );
    // A real secure: value is accepted by the schema, but a render-mode stack would write it in clear.
    const preview = await gitops(repo.dir, "preview", "--stack", "qa");
    assert.equal(preview.code, 1, preview.stderr);
    assert.match(
      preview.stderr,
      /^\s+stacks\/Pulumi\.qa\.yaml: pulumi-gitops:app\.env\.API_TOKEN: is a secret, but a render-mode stack writes its manifests in clear text/m,
    );
    assert.doesNotMatch(preview.stderr, /must be string/);
  });
});
