// The Markdown report for a pull-request comment: its size budget and what it escapes; no engine needed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { emptyCounts, type ResourceChange, type StackResult } from "../../runner/services/workspace";
import { renderMarkdown } from "../../runner/services/report";
import { makeFingerprint } from "../../runner/services/reviews";
import { FINGERPRINTS_MARKER, previewComment } from "../../runner/forge/publish";

function result(stack: string, over: Partial<StackResult> = {}): StackResult {
  return { stack, operation: "preview", status: "succeeded", counts: emptyCounts(), changes: [], diagnostics: [], durationMs: 1, ...over };
}

function change(name: string): ResourceChange {
  return {
    urn: `urn:pulumi:dev::p::kubernetes:core/v1:ConfigMap::${name}`,
    type: "kubernetes:core/v1:ConfigMap",
    name,
    op: "update",
    diffs: [{ path: "data.key", kind: "update", before: "a".repeat(50), after: "b".repeat(50) }],
  };
}

test("a 200 KB error stays within the budget, and the report says what it cut", () => {
  const error = "boom ".repeat(40_000);
  const md = renderMarkdown([result("dev", { status: "failed", error })], { title: "Pulumi preview", jsonFile: "out/preview.json" });
  assert.ok(md.length <= 60_000, `${md.length} characters`);
  assert.match(md, /boom boom/, "the start of the error is shown");
  assert.match(
    md,
    /Report size limit \(60,000 characters\): [\d,]+ characters of error text\. The full result is in `out\/preview\.json`\./,
  );
});

test("3000 stacks stay within the budget: rows past it are counted, not written", () => {
  const results = Array.from({ length: 3000 }, (_, i) =>
    result(`stack-${i}`, { counts: { ...emptyCounts(), update: 1 }, changes: [change(`cm-${i}`)] }),
  );
  const md = renderMarkdown(results, { title: "Pulumi preview" });
  assert.ok(md.length <= 60_000, `${md.length} characters`);
  const rows = [...md.matchAll(/^\| stack-\d+ \|/gm)].length;
  const cut = Number(/([\d,]+) stacks left out of the table/.exec(md)?.[1].replace(/,/g, ""));
  assert.ok(rows > 0 && rows < 3000);
  assert.equal(rows + cut, 3000, "every stack is either in the table or counted");
  const shown = [...md.matchAll(/<details>/g)].length;
  const notShown = Number(/([\d,]+) more changes not shown/.exec(md)?.[1].replace(/,/g, ""));
  assert.equal(shown + notShown, 3000, "every change is either shown or counted");
  assert.match(md, /The full result is in the JSON output \(`--json`\)\./);
});

test("a report that fits says nothing about a limit", () => {
  const md = renderMarkdown([result("dev", { counts: { ...emptyCounts(), update: 1 }, changes: [change("cm")] })], {
    title: "Pulumi preview",
  });
  assert.doesNotMatch(md, /size limit|not shown/);
  assert.match(md, /<b>cm<\/b>/);
});

test("an error cannot close its code fence, and names from programs cannot inject HTML or Markdown", () => {
  const error = "before\n```\n<img src=x onerror=alert(1)>\n````\nafter";
  const evil = {
    ...change("<script>alert(1)</script>"),
    type: "x:y:Z<b>",
    diffs: [{ path: "a|b<i>", kind: "update", before: 1, after: 2 }],
  };
  const md = renderMarkdown(
    [
      result("dev", {
        status: "failed",
        error,
        changes: [evil],
        diagnostics: [{ severity: "warning", message: "see [here](https://evil.example) <a href=x>" }],
      }),
    ],
    { title: "Pulumi preview" },
  );
  const fence = /^(`{5,})\n([\s\S]*?)\n\1$/m.exec(md);
  assert.ok(fence, `the error sits in a fence longer than any backtick run in it:\n${md}`);
  assert.equal(fence[2], error, "inside, the error is verbatim");
  const outside = md.replace(fence[0], "");
  assert.doesNotMatch(outside, /<script>|<img|<i>|<a href|Z<b>/, "no HTML from the program outside the fence");
  assert.match(outside, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(outside, /\| a\\\|b&lt;i&gt; \| update \|/, "the property path keeps its table cell");
  assert.match(outside, /see \\\[here\\\]\(https:\/\/evil\.example\) &lt;a href=x&gt;/, "no link, no tag in a warning");
});

test("a preview's comment carries each stack's fingerprint as hidden JSON, which nothing in it can close, within the budget", () => {
  const urn = "urn:pulumi:dev::p::kubernetes:core/v1:ConfigMap::x--><b>y</b>";
  const fingerprint = makeFingerprint({
    stack: "dev",
    commit: "a".repeat(40),
    time: "2026-11-29T00:00:00.000Z",
    inputs: { "stacks/Pulumi.dev.yaml": "b".repeat(40), "index.ts": "c".repeat(40) },
    engine: { pulumi: "3.248.0", plugins: ["resource-kubernetes-v4.24.1"] },
    state: { version: 2 },
    changes: [{ urn, op: "update", paths: ["data.key"] }],
  });
  const out = {
    commit: "a".repeat(40),
    unaffected: [],
    results: [result("dev", { counts: { ...emptyCounts(), update: 1 }, changes: [change("x")], fingerprint })],
  };
  const body = previewComment({ marker: "<!-- m -->", maxChars: 60_000 }, out);
  const hidden = body.split("\n").filter((l) => l.startsWith(FINGERPRINTS_MARKER));
  assert.equal(hidden.length, 1, body);
  assert.ok(hidden[0].endsWith(" -->"));
  const json = hidden[0].slice(FINGERPRINTS_MARKER.length, -" -->".length);
  assert.doesNotMatch(json, /-->|>/, "no `>` inside the comment");
  assert.deepEqual(JSON.parse(json), [fingerprint]);

  // A small budget keeps the report and names each fingerprint by id and digest only.
  const small = previewComment({ marker: "<!-- m -->", maxChars: 1_600 }, out);
  assert.ok(small.length <= 1_600, `${small.length}`);
  const line = small.split("\n").find((l) => l.startsWith(FINGERPRINTS_MARKER))!;
  assert.deepEqual(JSON.parse(line.slice(FINGERPRINTS_MARKER.length, -" -->".length)), [
    { stack: "dev", id: fingerprint.id, inputsDigest: fingerprint.inputsDigest, commit: fingerprint.commit },
  ]);
});
