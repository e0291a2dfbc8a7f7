/** gitops status reads the backend once for the stacks it holds, and each deployed stack's record once. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { startCli } from "../helpers/cli";
import { loggingEngine, pulumi, tags } from "../helpers/pulumi";
import { createRepo, type TestRepo } from "../helpers/repo";

describe("gitops status", () => {
  let repo: TestRepo;
  let scratch: string;
  before(() => {
    repo = createRepo();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-status-"));
  });
  after(() => {
    repo.remove();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("lists the backend's stacks once and reads only the deployed stacks' records, opening none", async () => {
    const applied = await startCli(repo.dir, ["apply", "--stack", "dev"]).done;
    assert.equal(applied.code, 0, applied.stderr);
    const log = path.join(scratch, "engine.log");
    const engine = loggingEngine(path.join(scratch, "engine"), log);
    const r = await startCli(repo.dir, ["status", "--json"], { PULUMI_GITOPS_ENGINE: engine }).done;
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout);
    assert.deepEqual(
      rows.map((s: { stack: string; deployed: boolean; inSync?: boolean }) => [s.stack, s.deployed, s.inSync]),
      [
        ["dev", true, true],
        ["staging", false, undefined],
        ["prod", false, undefined],
      ],
    );
    const calls = fs.readFileSync(log, "utf8").trim().split("\n");
    assert.deepEqual(calls.map((c) => c.split(" ").slice(0, 3).join(" ")).sort(), ["stack ls --json", "stack tag ls"], calls.join("\n"));
  });

  it("reads the record of a stack deployed when it was kept as one tag per field", async () => {
    const head = repo.git("rev-parse", "HEAD");
    const earlier = {
      "gitops:commit": head,
      "gitops:command": "apply",
      "gitops:time": "2026-01-02T03:04:05.000Z",
      "gitops:result": "succeeded",
    };
    pulumi(repo.dir, "stack", "tag", "rm", "gitops:record", "--stack", "dev");
    for (const [k, v] of Object.entries(earlier)) pulumi(repo.dir, "stack", "tag", "set", k, v, "--stack", "dev");
    assert.equal(tags(repo.dir, "dev")["gitops:record"], undefined);
    const r = await startCli(repo.dir, ["status", "--json", "--stack", "dev"]).done;
    assert.equal(r.code, 0, r.stderr);
    const [dev] = JSON.parse(r.stdout);
    assert.deepEqual([dev.deployed, dev.commit, dev.command, dev.time, dev.inSync], [true, head, "apply", earlier["gitops:time"], true]);
  });
});
