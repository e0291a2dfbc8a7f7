/**
 * The liveness check that decides whether a lock's holder still runs: a killed engine whose runner
 * died with it stays a zombie until init reaps it, and must count as gone.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import { processRuns } from "../../runner/services/processes";

describe("processRuns", () => {
  it("counts a zombie as ended, a live process of that name as running, and another program as not it", async () => {
    // The shell starts `sleep 0` and then becomes `sleep 30`, which never reaps it.
    const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const [line] = (await once(parent.stdout!, "data")) as [Buffer];
      const zombie = Number(line.toString().trim());
      while (!/\) Z /.test(fs.readFileSync(`/proc/${zombie}/stat`, "utf8"))) await new Promise((r) => setTimeout(r, 20));
      assert.equal(processRuns(zombie, "sleep"), false);
      assert.equal(processRuns(parent.pid!, "sleep"), true);
      assert.equal(processRuns(parent.pid!, "pulumi"), false);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});
