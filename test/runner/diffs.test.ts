// How a refresh's recorded and read outputs become the drift a user sees; no engine needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { declaredDiffs, maskSecrets, outputDiffs, valueAt } from "../../runner/services/workspace";

const SECRET = "4dabf18193072939515e22adb298388d";

test("outputDiffs names the changed leaf, inside lists of the same length", () => {
  const before = { spec: { replicas: 2, template: { spec: { containers: [{ name: "web", image: "nginx:1.26" }] } } } };
  const after = { spec: { replicas: 5, template: { spec: { containers: [{ name: "web", image: "nginx:1.27" }] } } } };
  assert.deepEqual(
    outputDiffs(before, after).map((d) => [d.path, d.kind, d.before, d.after]),
    [
      ["spec.replicas", "update", 2, 5],
      ["spec.template.spec.containers[0].image", "update", "nginx:1.26", "nginx:1.27"],
    ],
  );
});

test("outputDiffs reports a list whose length changed as one difference", () => {
  const diffs = outputDiffs({ ports: [80] }, { ports: [80, 443] });
  assert.deepEqual(
    diffs.map((d) => [d.path, d.kind]),
    [["ports", "update"]],
  );
});

test("outputDiffs tells added and removed properties apart", () => {
  const diffs = outputDiffs({ a: 1 }, { b: 2 });
  assert.deepEqual(diffs.map((d) => [d.path, d.kind]).sort(), [
    ["a", "delete"],
    ["b", "add"],
  ]);
});

test("declaredDiffs keeps only what the program declares", () => {
  const inputs = { spec: { replicas: 2 }, metadata: { labels: { app: "web" } } };
  const diffs = outputDiffs(
    { spec: { replicas: 2 }, metadata: { labels: { app: "web" }, resourceVersion: "10", generation: 1 } },
    { spec: { replicas: 3 }, metadata: { labels: { app: "web" }, resourceVersion: "17", generation: 2 } },
  );
  assert.deepEqual(
    declaredDiffs(inputs, diffs).map((d) => d.path),
    ["spec.replicas"],
  );
  assert.equal(declaredDiffs(undefined, diffs).length, 3, "without recorded inputs every difference counts");
  assert.deepEqual(declaredDiffs(inputs, []), []);
});

test("valueAt follows dotted, indexed and quoted paths", () => {
  const obj = { a: { "b.c": [{ d: 1 }] } };
  assert.equal(valueAt(obj, 'a["b.c"][0].d'), 1);
  assert.equal(valueAt(obj, "a.x.y"), undefined);
});

test("a changed secret never shows its value in a diff", () => {
  const secret = (v: string) => ({ "4dabf18193072939515e22adb298388d": SECRET, value: v });
  const diffs = outputDiffs(maskSecrets({ token: secret("old-token") }), maskSecrets({ token: secret("new-token") }));
  assert.doesNotMatch(JSON.stringify(diffs), /old-token|new-token/);
});
