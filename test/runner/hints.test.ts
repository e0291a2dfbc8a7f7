/**
 * Every gitops command and option the runner's messages name exists: a hint that points nowhere is
 * worse than none. Reads the runner's sources and asks the real CLI parser for each command's help.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { buildParser } from "../../runner/cli";

const RUNNER = path.join(__dirname, "..", "..", "runner");

/** What `gitops [command] --help` prints. */
function helpOf(...command: string[]): Promise<string> {
  const argv = [...command, "--help"];
  return new Promise((resolve, reject) =>
    buildParser(argv)
      .exitProcess(false)
      .parse(argv, {}, (err, _argv, output) => (err ? reject(err) : resolve(output))),
  );
}

/** The runner's TypeScript sources, by path relative to runner/. */
function sources(): Map<string, string> {
  const files = fs.readdirSync(RUNNER, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
  return new Map(files.map((f) => [f, fs.readFileSync(path.join(RUNNER, f), "utf8")]));
}

/**
 * What the sources tell a user to type: `gitops <command> [--option ...]` in backticks (up to a `--`
 * that hands the rest to the engine), and "pass/with/use --option". Interpolated names are not
 * literal advice.
 */
function namedInSources(): { commands: Set<string>; options: Set<string> } {
  const commands = new Set<string>();
  const options = new Set<string>();
  for (const text of sources().values()) {
    for (const m of text.matchAll(/(?<=`)gitops ([a-z][a-z-]*)([^`\n]*)/g)) {
      // `gitops remediate ${commit}: …` is an update's message, `gitops rollback ${stack}` a report's title.
      if (!m[2].startsWith(" ${")) commands.add(m[1]);
      for (const o of m[2].split(" -- ")[0].matchAll(/(?<=^|\s|\[)(--[a-z][a-z-]*)/g)) options.add(o[1]);
    }
    for (const m of text.matchAll(/\b(?:pass|with|use) (--[a-z][a-z-]*)/g)) options.add(m[1]);
  }
  return { commands, options };
}

describe("hints", () => {
  it("name only commands and options that exist", async () => {
    const { commands, options } = namedInSources();
    const top = await helpOf();
    const all = [...top.matchAll(/^ {2}gitops ([a-z][a-z-]*)/gm)].map((m) => m[1]);
    const known = (await Promise.all(all.map((c) => helpOf(c)))).join("\n");
    const missingCommands = [...commands].filter((c) => !all.includes(c));
    const missingOptions = [...options].filter((o) => !new RegExp(`^\\s+${o}\\b`, "m").test(known));
    assert.deepEqual({ missingCommands, missingOptions }, { missingCommands: [], missingOptions: [] });
    // The scan finds what it should: it is not vacuous.
    for (const c of ["unlock", "unpin", "restore", "pulumi"]) assert.ok(commands.has(c), c);
    for (const o of ["--stack", "--lock-timeout", "--repo", "--force"]) assert.ok(options.has(o), o);
  });
});
