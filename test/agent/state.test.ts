/**
 * The agent's own state in its clone: kept through every sync (checkout, clean) in a repository
 * whose .gitignore does not mention it, and a commit that changes the lockfile installs its own
 * dependencies (npm ci) instead of linking the agent's.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { startAgent } from "../helpers/agent";
import { pulumi } from "../helpers/pulumi";
import { createFileRepo, fileStackYaml, git, type TestRepo } from "../helpers/repo";

/** Every file under `dir` (none when it does not exist). */
function filesUnder(dir: string): string[] {
  return fs.existsSync(dir)
    ? (fs.readdirSync(dir, { recursive: true }) as string[]).map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile())
    : [];
}

describe("agent state", () => {
  let repo: TestRepo;
  let workDir: string;
  before(() => {
    repo = createFileRepo("hello");
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-agent-state-"));
  });
  after(() => {
    repo.remove();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("keeps its state and backups in a repository that does not ignore them, and installs a changed lockfile", async (t) => {
    repo.write(".gitignore", repo.read(".gitignore").replace(/^\.pulumi-gitops\/\n/m, ""));
    assert.doesNotMatch(repo.read(".gitignore"), /pulumi-gitops/);
    const first = repo.commit("stop ignoring .pulumi-gitops/");
    repo.git("push", "-q", "origin", "main");

    const clone = path.join(workDir, "repo");
    const devCommit = async () => (await agent.status()).stacks.find((s) => s.stack === "dev")?.commit;
    const agent = await startAgent(t, workDir, ["--repo", repo.origin, "--interval", "1s", "--drift-interval", "0"]);
    await agent.waitFor("the first commit applied", async () => (await devCommit()) === first);
    const backups = filesUnder(path.join(clone, ".pulumi-gitops", "backups"));
    assert.ok(backups.length >= 1, "a backup before the first update");

    // A new commit whose lockfile differs from the agent's: its root package's version only (other
    // packages in the lockfile may be at 0.1.0 too, and have no 0.1.1 to install).
    const pkg = JSON.parse(repo.read("package.json"));
    const lock = JSON.parse(repo.read("package-lock.json"));
    pkg.version = lock.version = lock.packages[""].version = "0.1.1";
    repo.write("package.json", JSON.stringify(pkg, null, 2) + "\n");
    repo.write("package-lock.json", JSON.stringify(lock, null, 2) + "\n");
    repo.write("stacks/Pulumi.dev.yaml", fileStackYaml("again"));
    const second = repo.commit("a new version and a new greeting");
    repo.git("push", "-q", "origin", "main");
    await agent.waitFor("the second commit applied (npm ci first)", async () => (await devCommit()) === second, 600_000);

    const updates = JSON.parse(pulumi(clone, "stack", "history", "--json", "--stack", "dev")) as { kind: string; result: string }[];
    assert.deepEqual(
      updates.map((u) => [u.kind, u.result]),
      [
        ["update", "succeeded"],
        ["update", "succeeded"],
      ],
      "the second update built on the first: the state survived the sync",
    );
    for (const b of backups) assert.ok(fs.existsSync(b), `kept: ${b}`);
    assert.equal(fs.readFileSync(path.join(clone, "target", "greeting.txt"), "utf8"), "again");
    const modules = fs.lstatSync(path.join(clone, "node_modules"));
    assert.ok(modules.isDirectory() && !modules.isSymbolicLink(), "the commit's own dependencies, installed by npm ci");
    assert.ok(fs.existsSync(path.join(clone, "node_modules", "@pulumi", "pulumi", "package.json")));
    assert.equal(git(clone, "status", "--porcelain"), "", "git sees a clean tree");
    assert.equal((await agent.stop()).code, 0);
  });
});
