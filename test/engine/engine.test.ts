/**
 * The real engine end to end, with no runner in between: the pinned CLI, the Node.js language host
 * and the Kubernetes provider, found without any download, drive the project's dev stack.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { pinnedCliVersion } from "../../runner/services/context";
import { engineEnv, engineVersion, type EngineSettings } from "../../runner/services/engine";
import { openStack } from "../fixtures/engine";
import { ENGINE_DIR, pulumiEnv, testEngineSettings } from "../helpers/pulumi";
import { createRepo, type TestRepo } from "../helpers/repo";

const run = (cwd: string, ...args: string[]) =>
  execFileSync(path.join(ENGINE_DIR, "bin", "pulumi"), args, {
    cwd,
    env: pulumiEnv(cwd),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });

describe("the engine", () => {
  let repo: TestRepo;
  let settings: EngineSettings;
  before(() => {
    repo = createRepo(["dev"]);
    settings = testEngineSettings(repo.dir);
    fs.mkdirSync(path.join(repo.dir, ".pulumi-gitops", "state"), { recursive: true });
  });
  after(() => repo.remove());

  it("is the pinned release", () => {
    assert.equal(run(repo.dir, "version").trim(), pinnedCliVersion());
  });

  it("is asked its version once per binary: the answer is kept beside it, and a changed binary is asked again", async () => {
    // Engine directories of their own, whose pulumi is the real one: the kept answer is theirs.
    const engineDirWith = (kept?: object) => {
      const dir = fs.mkdtempSync(path.join(repo.dir, "engine-"));
      fs.mkdirSync(path.join(dir, "bin"));
      fs.symlinkSync(path.join(ENGINE_DIR, "bin", "pulumi"), path.join(dir, "bin", "pulumi"));
      if (kept) fs.writeFileSync(path.join(dir, "version.json"), JSON.stringify(kept));
      return { ...settings, engineDir: dir };
    };
    const keptIn = (s: EngineSettings) => JSON.parse(fs.readFileSync(path.join(s.engineDir, "version.json"), "utf8"));
    const real = pinnedCliVersion().replace(/^v/, "");

    const fresh = engineDirWith();
    assert.equal(await engineVersion(fresh), real);
    const first = keptIn(fresh);
    assert.equal(first.version, real);

    // A kept answer for this very binary is used as it is: no engine process asked it.
    assert.equal(await engineVersion(engineDirWith({ ...first, version: "0.0.1-kept" })), "0.0.1-kept");

    // One kept for another binary (rebuilt, replaced) is not.
    const replaced = engineDirWith({ ...first, identity: `${first.identity}-another`, version: "0.0.1-kept" });
    assert.equal(await engineVersion(replaced), real);
    assert.equal(keptIn(replaced).version, real);
  });

  it("finds the Node.js host and the Kubernetes provider without a download", () => {
    const about = run(repo.dir, "about", "--json");
    const plugins: { name: string; kind: string; version: string }[] = JSON.parse(about).plugins;
    assert.ok(
      plugins.some((p) => p.kind === "language" && p.name === "nodejs"),
      about,
    );
    const k8s = JSON.parse(fs.readFileSync(path.join(repo.dir, "node_modules/@pulumi/kubernetes/package.json"), "utf8")).version;
    assert.ok(
      plugins.some((p) => p.kind === "resource" && p.name === "kubernetes" && p.version.replace(/^v/, "") === k8s),
      about,
    );
    const ls = run(repo.dir, "plugin", "ls", "--json");
    assert.ok(
      JSON.parse(ls).some(
        (p: { name: string; kind: string; version: string }) => p.name === "kubernetes" && p.kind === "resource" && p.version === k8s,
      ),
      ls,
    );
  });

  it("brings a stack up, renders its manifests, previews clean and destroys to nothing", async () => {
    const stack = await openStack(repo.dir, "dev", engineEnv(settings));
    const up = await stack.up({ color: "never" });
    assert.equal(up.summary.result, "succeeded");
    assert.equal(up.outputs.namespace.value, "web-dev");
    assert.equal(up.outputs.environment.value, "dev");
    const image = up.outputs.image.value as string;
    assert.match(image, /^ghcr\.io\/example\/web[:@]/);
    const dir = path.join(repo.dir, "rendered", "dev", "1-manifest");
    const manifests = fs.readdirSync(dir);
    const deployment = manifests.find((f) => f.startsWith("apps_v1-deployment"));
    assert.ok(deployment, `a Deployment manifest among ${manifests}`);
    const text = fs.readFileSync(path.join(dir, deployment), "utf8");
    assert.ok(text.includes(`image: ${image}`), text);
    assert.match(text, /runAsNonRoot: true/);

    const preview = await stack.preview({ expectNoChanges: true, color: "never" });
    assert.equal(preview.changeSummary.create ?? 0, 0);
    assert.equal(preview.changeSummary.update ?? 0, 0);

    const destroy = await stack.destroy({ color: "never" });
    assert.equal(destroy.summary.result, "succeeded");
    const state = await stack.exportStack();
    assert.deepEqual(state.deployment.resources ?? [], []);
    const left = fs.readdirSync(dir);
    assert.deepEqual(left, [], "destroy removed the rendered manifests");
  });
});
