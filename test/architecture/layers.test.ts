/**
 * The runner's layers, read from its import statements: a flow (runner/flows) uses services and
 * never another flow, and services use neither flows, commands, the agent nor the forge, so that
 * following one command's work never leads into another command's.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import ts from "typescript";

const runner = path.resolve(__dirname, "..", "..", "runner");

/** Every relative import of the .ts files in `dir`, as [importing file, imported module], both relative to runner/. */
function importsIn(dir: string): [string, string][] {
  const files = fs.readdirSync(path.join(runner, dir)).filter((f) => f.endsWith(".ts"));
  assert.ok(files.length > 0, `runner/${dir} has source files`);
  return files.flatMap((f) => {
    const file = path.join(runner, dir, f);
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, "utf8"), true, true);
    return importedFiles
      .map((i) => i.fileName)
      .filter((m) => m.startsWith("."))
      .map((m): [string, string] => [path.join(dir, f), path.relative(runner, path.resolve(path.dirname(file), m))]);
  });
}

const layer = (module: string) => module.split(path.sep)[0];

test("no flow imports another flow", () => {
  const crossing = importsIn("flows").filter(([, m]) => layer(m) === "flows");
  assert.deepEqual(
    crossing.map(([f, m]) => `${f} imports ${m}`),
    [],
  );
});

test("services import no flow, command, agent or forge", () => {
  const upward = importsIn("services").filter(([, m]) => ["flows", "commands", "agent", "forge", "cli"].includes(layer(m)));
  assert.deepEqual(
    upward.map(([f, m]) => `${f} imports ${m}`),
    [],
  );
});
