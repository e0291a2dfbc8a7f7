/** index.ts itself, loaded as the engine would load it, under mocks (one process, one stack). */
import { it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { readStackFile, toEngineConfig } from "../../config";
import { installMocks, ofType, settle, valueOf } from "../components/harness";

it("index.ts validates the stack, renders under GITOPS_ROOT and exports only defined outputs", async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-root-"));
  const resources = installMocks("dev");
  pulumi.runtime.setAllConfig(toEngineConfig(readStackFile(path.join(__dirname, "..", ".."), "dev").values));
  process.env.GITOPS_ROOT = root;
  try {
    const outputs = require("../../index") as Record<string, unknown>;
    await settle();
    assert.deepEqual(Object.keys(outputs).sort(), ["environment", "image", "namespace", "renderDir", "replicas", "serviceName", "url"]);
    assert.equal(outputs.environment, "dev");
    assert.equal(await valueOf(outputs.namespace as pulumi.Output<string>), "web-dev");
    assert.equal(await valueOf(outputs.serviceName as pulumi.Output<string>), "web");
    assert.equal(ofType(resources, "pulumi:providers:kubernetes")[0].inputs.renderYamlToDirectory, path.join(root, "rendered", "dev"));
  } finally {
    delete process.env.GITOPS_ROOT;
    fs.rmSync(root, { recursive: true, force: true });
  }
});
