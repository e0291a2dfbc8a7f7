/** The apply commit status names the stacks held at their promotion gate: waiting is no failure. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { applyStatus } from "../../runner/forge/publish";
import { skippedResult, type StackResult } from "../../runner/services/workspace";

test("a stack waiting at its gate leaves the status a success that names it", () => {
  const results: StackResult[] = [
    { ...skippedResult("staging", "update", ""), status: "succeeded" },
    { ...skippedResult("prod", "update", "waiting for abc1234 at its gate: soaking in staging until …"), status: "waiting" },
  ];
  const s = applyStatus(results, undefined, undefined);
  assert.equal(s.state, "success");
  assert.equal(s.description, "applied staging; waiting at the gate: prod");
});
