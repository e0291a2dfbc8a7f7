import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { appLabels, imageReference, labelValue } from "../../components/kubernetes";

const digest = "sha256:" + "ab".repeat(32);

describe("imageReference", () => {
  const cases: { name: string; image: { repository: string; tag?: string; digest?: string }; want?: string; error?: RegExp }[] = [
    { name: "tag", image: { repository: "r/app", tag: "1.0" }, want: "r/app:1.0" },
    { name: "digest", image: { repository: "r/app", digest }, want: `r/app@${digest}` },
    { name: "both", image: { repository: "r/app", tag: "1.0", digest }, error: /exactly one of tag and digest, not both/ },
    { name: "neither", image: { repository: "r/app" }, error: /exactly one of tag and digest/ },
    { name: "malformed digest", image: { repository: "r/app", digest: "sha256:xyz" }, error: /64 hex/ },
  ];
  for (const c of cases)
    it(c.name, () => {
      if (c.error) assert.throws(() => imageReference(c.image), c.error);
      else assert.equal(imageReference(c.image), c.want);
    });
});

describe("labels", () => {
  it("keeps the version out of the (immutable) selector", () => {
    const l = appLabels("web", { version: "1.2.3", environment: "prod" });
    assert.deepEqual(l.selector, { "app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web" });
    assert.equal(l.all["app.kubernetes.io/version"], "1.2.3");
    assert.equal(l.all["pulumi-gitops/environment"], "prod");
    assert.equal(l.all["app.kubernetes.io/managed-by"], "pulumi-gitops");
  });
  const values: [string, string][] = [
    ["1.2.3", "1.2.3"],
    [digest, "sha256_" + "ab".repeat(28)],
    ["-x-", "x"],
  ];
  for (const [input, want] of values) it(`labelValue(${input.slice(0, 12)})`, () => assert.equal(labelValue(input), want));
});
