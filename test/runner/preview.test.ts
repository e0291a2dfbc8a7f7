/** gitops preview on branches: only affected stacks touch the engine, and the report says what changes. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { gitops, startCli } from "../helpers/cli";
import { record, resources } from "../helpers/pulumi";
import { createRepo, loggingGit, type TestRepo } from "../helpers/repo";

describe("gitops preview", () => {
  let repo: TestRepo;
  before(() => (repo = createRepo()));
  after(() => repo.remove());

  it("previews only staging when a branch changes only the staging stack file", async () => {
    repo.git("checkout", "-q", "-b", "scale-staging");
    repo.write("stacks/Pulumi.staging.yaml", repo.read("stacks/Pulumi.staging.yaml").replace("replicas: 1", "replicas: 3"));
    repo.commit("scale staging to 3 replicas");
    const report = path.join(repo.dir, "..", "preview.md");
    const json = path.join(repo.dir, "..", "preview.json");
    const r = await gitops(repo.dir, "preview", "--report", report, "--json", json, "--detailed-exitcode");
    assert.equal(r.code, 2, r.stderr);
    const result = JSON.parse(fs.readFileSync(json, "utf8"));
    assert.deepEqual(
      result.stacks.map((s: { stack: string }) => s.stack),
      ["staging"],
    );
    assert.deepEqual(result.unaffected, ["dev", "prod"]);
    assert.ok(result.stacks[0].counts.create > 0);
    const md = fs.readFileSync(report, "utf8");
    assert.match(md, /\| stack \| create \| update \| replace \| delete \| unchanged \| result \|/);
    assert.match(md, /\| staging \| \d+ \| 0 \| 0 \| 0 \| 0 \| changes \|/);
    assert.match(md, /Not affected by this change, not previewed: dev, prod/);
    assert.match(md, /<details><summary>.*kubernetes:apps\/v1:Deployment/);
    // Unaffected stacks never touched the engine: they do not even exist in the backend.
    assert.equal(fs.existsSync(path.join(repo.dir, ".pulumi-gitops/state/.pulumi/stacks/pulumi-gitops/dev.json")), false);
    assert.deepEqual(resources(repo.dir, "dev"), []);
  });

  it("previews every stack when a branch changes a component, and exits 0 without --detailed-exitcode", async () => {
    repo.git("checkout", "-q", "main");
    repo.git("checkout", "-q", "-b", "component-change");
    const file = "components/webService.ts";
    repo.write(file, repo.read(file) + "\n// a comment that still counts as a program change\n");
    repo.commit("touch the web service component");
    const r = await gitops(repo.dir, "preview", "--json", "-", "--parallel", "2");
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.deepEqual(
      result.stacks.map((s: { stack: string }) => s.stack),
      ["dev", "staging", "prod"],
    );
    assert.ok(result.stacks.every((s: { status: string }) => s.status === "succeeded"));
  });

  it("runs the program without type-checking it: a type error alone does not fail a preview (tsc in npm test does)", async () => {
    repo.git("checkout", "-q", "main");
    repo.git("checkout", "-q", "-b", "type-error");
    repo.write("program.ts", repo.read("program.ts") + '\nexport const typeOnly: number = "only the type is wrong" as string;\n');
    repo.commit("a type error that runs");
    const r = await gitops(repo.dir, "preview", "--stack", "dev", "--json", "-");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).stacks[0].status, "succeeded");
  });

  it("previews nothing when only docs change", async () => {
    repo.git("checkout", "-q", "main");
    repo.git("checkout", "-q", "-b", "docs");
    repo.write("README.md", "# infrastructure\n\nMore words.\n");
    repo.commit("docs only");
    const r = await gitops(repo.dir, "preview", "--json", "-", "--detailed-exitcode");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).stacks, []);
    assert.match(r.stderr, /no stack affected/);
  });

  it("warns about uncommitted changes and names them", async () => {
    repo.write("notes.txt", "scratch\n");
    const r = await gitops(repo.dir, "preview", "--json", "-");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: uncommitted changes are ignored when choosing stacks.*notes\.txt/);
    fs.rmSync(path.join(repo.dir, "notes.txt"));
  });

  it("masks secret values in the diff of an update", async () => {
    const leak = (value: string) =>
      `import * as pulumi from "@pulumi/pulumi";\nimport * as k8s from "@pulumi/kubernetes";\n` +
      `const provider = new k8s.Provider("leak", { renderYamlToDirectory: "rendered/leak", enableConfigMapMutable: true });\n` +
      `new k8s.core.v1.ConfigMap("leak", { metadata: { name: "leak" }, data: { token: pulumi.secret("${value}") } }, { provider });\n`;
    repo.git("checkout", "-q", "main");
    repo.write("leak.ts", leak("first-secret-value"));
    repo.write("index.ts", 'import "./leak";\n' + repo.read("index.ts"));
    repo.write("stacks/gitops.yaml", "paths:\n  program: [index.ts, leak.ts, components/**, config/**]\n");
    repo.commit("a resource with a secret input");
    repo.git("push", "-q", "origin", "main");
    const applied = await gitops(repo.dir, "apply", "--stack", "dev");
    assert.equal(applied.code, 0, applied.stderr);
    repo.git("checkout", "-q", "-b", "rotate");
    repo.write("leak.ts", leak("hunter2-do-not-print"));
    repo.commit("rotate the secret");
    const report = path.join(repo.dir, "..", "secret.md");
    const r = await gitops(repo.dir, "preview", "--report", report, "--json", "-", "--debug");
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.deepEqual(
      result.stacks.map((s: { stack: string }) => s.stack),
      ["dev", "staging", "prod"],
    );
    const dev = result.stacks[0];
    const change = dev.changes.find((c: { name: string }) => c.name === "leak");
    assert.ok(change, "the ConfigMap's update is reported");
    assert.ok(change.diffs.length > 0, "with its property diffs");
    const md = fs.readFileSync(report, "utf8");
    assert.match(md, /\[secret\]/);
    for (const text of [r.stdout, r.stderr, md]) {
      assert.doesNotMatch(text, /hunter2-do-not-print/);
      assert.doesNotMatch(text, /first-secret-value/);
    }
  });
});

describe("what a change affects: the program's real imports", () => {
  let repo: TestRepo;
  before(() => (repo = createRepo(["dev", "staging"])));
  after(() => repo.remove());

  it("a helper module outside the program globs, imported by index.ts, affects every stack: preview, status and apply", async () => {
    // lib/ is named by no path rule: only the import makes it part of the program.
    repo.write("lib/labels.ts", 'export const team = "platform";\n');
    repo.write("index.ts", 'import { team } from "./lib/labels";\nvoid team;\n' + repo.read("index.ts"));
    repo.commit("index.ts uses a helper module");
    repo.git("push", "-q", "origin", "main");
    const first = await gitops(repo.dir, "apply");
    assert.equal(first.code, 0, first.stderr);

    repo.git("checkout", "-q", "-b", "rename-team");
    repo.write("lib/labels.ts", 'export const team = "platform-eng";\n');
    const change = repo.commit("rename the team in the helper");
    const r = await gitops(repo.dir, "preview", "--json", "-");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout).stacks.map((s: { stack: string }) => s.stack),
      ["dev", "staging"],
    );

    repo.git("checkout", "-q", "main");
    repo.git("merge", "-q", "--ff-only", "rename-team");
    repo.git("push", "-q", "origin", "main");
    const status = JSON.parse((await gitops(repo.dir, "status", "--json")).stdout);
    assert.deepEqual(
      status.map((s: { stack: string; inSync: boolean }) => [s.stack, s.inSync]),
      [
        ["dev", false],
        ["staging", false],
      ],
    );
    const applied = await gitops(repo.dir, "apply");
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stderr, /dev: apply, changed since [0-9a-f]{7}: lib\/labels\.ts/);
    for (const s of ["dev", "staging"]) assert.equal(record(repo.dir, s).commit, change, `${s} was deployed`);
  });

  it("a failing preview prints each stack's error and hint, and its report stays within the size limit", async () => {
    repo.git("checkout", "-q", "-b", "huge-error");
    // 200 KB of error text, with a fence and HTML in it that must not escape into the comment.
    const thrown = 'throw new Error("```\\n<img src=x onerror=alert(1)>\\n" + "too long ".repeat(22000));\n';
    repo.write("lib/labels.ts", thrown + repo.read("lib/labels.ts"));
    repo.commit("a helper that fails with a huge error");
    const report = path.join(repo.dir, "..", "huge.md");
    const json = path.join(repo.dir, "..", "huge.json");
    const r = await gitops(repo.dir, "preview", "--report", report, "--json", json);
    assert.equal(r.code, 1, r.stderr);
    for (const s of ["dev", "staging"]) {
      assert.match(r.stderr, new RegExp(`^error: ${s}: [\\s\\S]*?too long too long`, "m"));
      assert.match(r.stderr, new RegExp(`^hint: fix it on this branch; \`gitops preview --stack ${s}\``, "m"));
    }
    const md = fs.readFileSync(report, "utf8");
    assert.ok(md.length <= 60_000, `the report has ${md.length} characters`);
    assert.match(md, /\| dev \| 0 \| 0 \| 0 \| 0 \| 0 \| ❌ failed \|/);
    assert.match(
      md,
      /Report size limit \(60,000 characters\): [^\n]*characters of error text[^\n]*\. The full result is in `[^`]*huge\.json`\./,
    );
    const outside = md.replace(/^(`{4,})\n[\s\S]*?\n\1$/gm, "");
    assert.doesNotMatch(outside, /<img/, "the error's HTML stays inside its fence");
    assert.ok(JSON.parse(fs.readFileSync(json, "utf8")).stacks[0].error.length > 190_000, "the JSON keeps the whole error");
  });
});

describe("reading the program's files around the engine", () => {
  let repo: TestRepo;
  before(() => (repo = createRepo(["dev", "staging"])));
  after(() => repo.remove());

  it("a preview chosen by a branch's changes reads the program once, for the choice and the fingerprints", async () => {
    repo.git("checkout", "-q", "-b", "component-change");
    const file = "components/webService.ts";
    repo.write(file, repo.read(file) + "\n// a program change\n");
    repo.commit("touch the web service component");
    const logging = loggingGit();
    try {
      const r = await startCli(repo.dir, ["preview", "--json", "-"], { PATH: `${logging.dir}${path.delimiter}${process.env.PATH}` }).done;
      assert.equal(r.code, 0, r.stderr);
      const stacks = JSON.parse(r.stdout).stacks as { stack: string; fingerprint?: { id: string } }[];
      assert.deepEqual(
        stacks.map((s) => [s.stack, !!s.fingerprint?.id]),
        [
          ["dev", true],
          ["staging", true],
        ],
      );
      // programFiles lists the tree by name only and reads its files with one cat-file.
      const reads = logging.runs().filter((r) => r.startsWith("ls-tree -r -z --name-only ") || r === "cat-file --batch");
      assert.equal(reads.length, 2, reads.join("\n"));
    } finally {
      logging.remove();
    }
  });

  it("the program read while the engine runs still fails the preview when git cannot read a file of it", async () => {
    repo.git("checkout", "-q", "main");
    const blob = repo.git("rev-parse", "HEAD:components/webService.ts");
    fs.rmSync(path.join(repo.dir, ".git", "objects", blob.slice(0, 2), blob.slice(2)));
    const r = await gitops(repo.dir, "preview", "--stack", "dev");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: components\/webService\.ts is in commit [0-9a-f]{7} but git cannot read it/m);
    assert.match(r.stderr, /^hint: .*git fsck/m);
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  });
});
